// A dead-letter filter naming a source no dead letter can come from (a typo: "segmnt") is refused naming the known
// sources, not answered with an empty list or a retry of nothing. Found probing the CLI: `cdp dlq list --source
// segmnt` printed an empty table and `cdp dlq retry --source segmnt` "retried 0 dead letters", as if none were open.
import { Effect } from "effect"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { listDeadLetters, retryDeadLetters } from "../../ingest/dlq.ts"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { runCdp } from "../support/cli.ts"
import { freshDir, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a dead-letter filter's unknown source", () => {
  it("is refused by the list and the retry, naming the known sources; a known one is taken", async () => {
    const result = await withPipeline(join(dir, "data"), Effect.gen(function* () {
      return {
        list: yield* Effect.flip(listDeadLetters({ source: "segmnt" })),
        retry: yield* Effect.flip(retryDeadLetters({ source: "segmnt" })),
        known: yield* listDeadLetters({ source: "calls" }),
      }
    }))
    for (const e of [result.list, result.retry]) {
      expect(e._tag).toBe("UnknownDeadLetterSource")
      expect(e.message).toContain('"segmnt"')
      expect(e.message).toContain("segment, sendgrid, email, chat, calls, social, twitter")
    }
    expect(result.known).toEqual([])
  }, 60_000)

  it("is a 400 naming source on GET /v1/dead-letters?source= and POST /v1/dead-letters/retry", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const list = yield* callApi(url, "GET", "/v1/dead-letters?source=segmnt", TEST_ADMIN_TOKEN)
      expect(list.status).toBe(400)
      expect(list.body).toMatchObject({ success: false, rule: "bad_source", field: "source" })
      expect(String(list.body["error"])).toContain("segment, sendgrid, email, chat, calls, social, twitter")
      const retry = yield* callApi(url, "POST", "/v1/dead-letters/retry", TEST_ADMIN_TOKEN, { source: "segmnt" })
      expect(retry.status).toBe(400)
      expect(retry.body).toMatchObject({ success: false, rule: "bad_source", field: "/source" })
      const known = yield* callApi(url, "GET", "/v1/dead-letters?source=segment", TEST_ADMIN_TOKEN)
      expect(known.status).toBe(200)
    })), 60_000)

  it("is one line naming --source on cdp dlq list and retry", () => {
    const data = join(dir, "data")
    // Every line of it is refused (exit 1): the data dir then holds dead letters of segment.
    expect(runCdp(["ingest", "--source", "segment", "ingest/samples/invalid.ndjson", "--data-dir", data]).stderr).toContain("rejected")
    for (const command of ["list", "retry"]) {
      const r = runCdp(["dlq", command, "--source", "segmnt", "--data-dir", data])
      expectOneLineError(r, '--source "segmnt"')
      expect(r.stderr).toContain("segment, sendgrid, email, chat, calls, social, twitter")
      expect(r.stdout).toBe("")
    }
  }, 120_000)
})
