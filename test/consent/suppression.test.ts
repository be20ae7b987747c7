// After an erasure, the person's identifiers (as keyed hashes) block re-ingestion: the collector still answers 2xx,
// the message is dropped and counted, and nothing of it lands; an operator (or fresh consent) lifts it.
import { Effect, Logger } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Keys } from "../../consent/keys.ts"
import { eraseSubject } from "../../consent/registry.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { liftSuppression } from "../../consent/suppression.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, post, removeDir, withCollector } from "../support/pipeline.ts"

let dir: string
beforeAll(() => {
  dir = freshDir()
})
afterAll(() => removeDir(dir))

const identify = (messageId: string, email: string, userId: string) =>
  ({ type: "identify", userId, messageId, traits: { email }, timestamp: "2024-10-02T10:00:00Z" })

describe("suppression after erasure", () => {
  it("drops (and counts) a returning message of an erased person with a 2xx, until it is lifted", async () => {
    const result = await withCollector(dir, (url) => Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const pipeline = yield* Pipeline
      const landed = (id: string) =>
        Effect.map(warehouse.query<{ n: string }>("SELECT count() AS n FROM event_rows WHERE message_id = {id:String}", { params: { id } }), (r) => Number(r[0]!.n))
      expect((yield* post(`${url}/v1/batch`, { batch: [identify("s-1", "gone@mail.example", "u-gone")] })).status).toBe(200)
      const subject = yield* resolveSubject("acme", "gone@mail.example")
      yield* eraseSubject(subject)
      // Another message of theirs, by another of their identifiers (the user id), and an address spelled differently.
      const again = yield* post(`${url}/v1/batch`, { batch: [identify("s-2", "Gone@Mail.example", "u-gone")] })
      const dropped = pipeline.counters.dropReasons["suppressed"] ?? 0
      const afterErasure = yield* landed("s-2")
      yield* liftSuppression("acme", [{ kind: "email", value: "gone@mail.example" }, { kind: "user_id", value: "u-gone" }], "operator", "ticket-42")
      yield* post(`${url}/v1/batch`, { batch: [identify("s-3", "gone@mail.example", "u-gone")] })
      return { again: again.status, dropped, afterErasure, afterLift: yield* landed("s-3") }
    }).pipe(Effect.provide(Keys.fromDataDir(dir)), Effect.provide(Logger.layer([]))))
    expect(result.again).toBe(200)
    expect(result.dropped).toBe(1)
    expect(result.afterErasure).toBe(0)
    expect(result.afterLift).toBe(1)
  }, 120_000)
})
