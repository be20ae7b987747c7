// The identity suggestions and token lists refuse a query parameter they do not take (?limt=5 answered the default
// page of 50 or 100, as if the limit had been read), 400 unknown_parameter naming it; the dead-letter and audit lists
// through the same check (ingest/pages.ts).
import { Effect, type Scope } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import type { Collector } from "../../ingest/collector.ts"
import { callApi, TEST_ADMIN_TOKEN, withApi as withCollector } from "../support/api.ts"
import { checkResponse, templateOf } from "../support/openapi.ts"
import { freshDir, type PipelineServices, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const withApi = <A, E>(program: (url: string) => Effect.Effect<A, E, PipelineServices | Collector | Scope.Scope>) => withCollector(dir, program)

describe("the identity suggestions and token lists' query parameters", () => {
  it("an unknown one is refused with 400 naming it; ?limit= and ?cursor= still pass", () =>
    withApi((url) => Effect.gen(function* () {
      for (const list of ["/v1/identity/suggestions", "/v1/tokens"]) {
        for (const name of ["limt", "status"]) {
          const path = `${list}?tenant=acme&${name}=5`
          const res = yield* callApi(url, "GET", path, TEST_ADMIN_TOKEN)
          checkResponse(templateOf(path), "GET", res.status, res.body)
          expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(400)
          expect(res.body).toMatchObject({ rule: "unknown_parameter", field: name, error: `?${name}= is not taken here; this list takes ?limit=, ?cursor=` })
        }
        expect((yield* callApi(url, "GET", `${list}?tenant=acme&limit=5&cursor=`, TEST_ADMIN_TOKEN)).status, list).toBe(200)
      }
    })), 120_000)

  it("the dead-letter and audit lists refuse one through the same check: its message, ?tenant= named, a long name cut", () =>
    withApi((url) => Effect.gen(function* () {
      const lists = [
        ["/v1/dead-letters", "?source=, ?rule=, ?since=, ?all=, ?limit=, ?cursor=, ?tenant="],
        ["/v1/audit", "?limit=, ?cursor=, ?since=, ?until=, ?kind=, ?tenant="],
      ] as const
      for (const [list, takes] of lists) {
        const path = `${list}?limt=5`
        const res = yield* callApi(url, "GET", path, TEST_ADMIN_TOKEN)
        checkResponse(templateOf(path), "GET", res.status, res.body)
        expect(res.body, path).toMatchObject({ rule: "unknown_parameter", field: "limt", error: `?limt= is not taken here; this list takes ${takes}` })
        // A name of 3,000 characters is not echoed whole (the answer was 6 KB).
        const long = yield* callApi(url, "GET", `${list}?${"x".repeat(3000)}=1`, TEST_ADMIN_TOKEN)
        expect(long.status).toBe(400)
        expect(long.body, list).toMatchObject({ rule: "unknown_parameter", field: "x".repeat(80) })
        expect(String(long.body["error"]).length, list).toBeLessThan(300)
        expect((yield* callApi(url, "GET", `${list}?tenant=acme&limit=5`, TEST_ADMIN_TOKEN)).status, list).toBe(200)
      }
    })), 120_000)
})
