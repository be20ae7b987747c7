// An erasure finds the subject's identifiers in a dead letter kept as base64 (bytes that are not UTF-8, migration 088)
// as it does in one kept as text: a refused windows-1252 mail from the subject has no landed message to be found by.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Keys } from "../../consent/keys.ts"
import { eraseSubject } from "../../consent/registry.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { importFile } from "../../ingest/import.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** A mail in windows-1252 ("Tr\xe8s" in its body) from `from`, refused for its Date. */
const refusedLatinMail = (from: string): Buffer => Buffer.concat([
  Buffer.from(`From: <${from}>\r\nSubject: order\r\nDate: someday\r\nContent-Type: text/plain; charset=windows-1252\r\n\r\nTr`, "latin1"),
  Buffer.from([0xe8]), Buffer.from("s bien\r\n", "latin1"),
])

describe("erasure and dead letters kept as base64", () => {
  it("removes the subject's refused mail kept as base64, and leaves another person's", () =>
    withPipeline(dir, Effect.gen(function* () {
      const mine = join(dir, "mine.eml")
      const theirs = join(dir, "theirs.eml")
      const landed = join(dir, "landed.eml")
      writeFileSync(mine, refusedLatinMail("ann@x.example"))
      writeFileSync(theirs, refusedLatinMail("bob@y.example"))
      writeFileSync(landed, "From: <ann@x.example>\r\nSubject: hi\r\nDate: Mon, 2 Sep 2024 11:39:49 +0000\r\n\r\nhello\r\n")
      for (const file of [mine, theirs, landed]) yield* importFile("email", file, { tenant: "acme" })
      expect(yield* query("SELECT payload_encoding, count() AS n FROM dead_letters GROUP BY payload_encoding")).toEqual([{ payload_encoding: "base64", n: "2" }])
      const done = yield* eraseSubject(yield* resolveSubject("acme", "email:ann@x.example"))
      expect(done.find((d) => d.where === "verification")?.count).toBe(0)
      const left = yield* query<{ payload: string }>("SELECT payload FROM dead_letters")
      expect(left.map((r) => Buffer.from(r.payload, "base64").toString("latin1"))).toEqual([refusedLatinMail("bob@y.example").toString("latin1")])
    }).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(5))))), 120_000)
})
