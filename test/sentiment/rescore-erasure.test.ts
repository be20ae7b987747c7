// A rescore beside an erasure of the same tenant: a page of texts read before the erasure must not store the erased
// person's sentiment (their profile id, the evidence quoted from their text) after it.
import { Deferred, Effect, Fiber, Option } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Keys } from "../../consent/keys.ts"
import { eraseSubject, verifyErased } from "../../consent/registry.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { rescore } from "../../sentiment/index.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { gatedWarehouse } from "../support/gated-warehouse.ts"
import { freshDir, query, removeDir } from "../support/pipeline.ts"
import { submit, web, withConsent } from "../consent/support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const chat = (id: string, userId: string, text: string) =>
  web(id, 3, { userId, event: "Chat Message", channel: "chat", source: "chat", text })

describe("a rescore beside an erasure", () => {
  it("stores no sentiment of the erased person once the erasure has run", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([
        chat("ann-chat", "ann", "I love it, the service was excellent and fast"),
        chat("bob-chat", "bob", "terrible, awful experience, I hate it"),
      ])
      const subject = yield* resolveSubject("acme", "user_id:ann")
      const ann = subject.profileIds[0]!

      // The rescore has read its page of texts (ann's among them) and waits before storing their sentiment.
      const gate = yield* gatedWarehouse({ insert: (table) => table === "sentiment", armed: true })
      const rescoring = yield* rescore({ since: new Date("2024-01-01") }).pipe(Effect.provideService(Warehouse, gate.warehouse), Effect.forkChild)
      yield* Deferred.await(gate.reached)
      const erasure = yield* eraseSubject(subject).pipe(Effect.exit, Effect.forkChild)
      // Let the erasure run as far as it can meanwhile (to its end, unless it waits for the page).
      yield* Fiber.join(erasure).pipe(Effect.timeoutOption("15 seconds"), Effect.map(Option.isSome))
      yield* gate.release
      expect((yield* Fiber.join(rescoring)).texts).toBe(2)
      const erased = yield* Fiber.join(erasure)

      expect(erased._tag).toBe("Success")
      const rows = yield* query<{ profile_id: string }>("SELECT profile_id FROM sentiment FINAL WHERE tenant = 'acme'")
      expect(rows.map((r) => r.profile_id)).not.toContain(ann)
      expect(rows.length).toBe(1) // bob's
      expect(yield* verifyErased(subject)).toEqual([])
    }).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(7))))), 90_000)
})
