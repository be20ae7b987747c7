// Small hand-made histories fed to a fresh identity stage whole, one message a call, and one a call in reverse
// arrival order: each message must end in the profile one resolution of the whole history gives it (what a rebuild
// gives), and what `cdp identity explain` and the claimed flags read (each link's latest status) must be the same.
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { defaultIdentityConfig } from "../../identity/stage.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { readProfile } from "../../ingest/profile-read.ts"
import { eventOn } from "../support/events.ts"
import { freshDir, removeDir, withPipeline } from "../support/pipeline.ts"
import { changedKeys, difference, fixedBatches, landBatches, wholeHistory } from "./batching-harness.ts"

const call = (id: string, day: number, phone: string) =>
  eventOn(id, day, { source: "calls", channel: "call", type: "track", event: "Call", identifiers: [{ kind: "phone", value: phone }] })
const mail = (id: string, day: number, email: string) =>
  eventOn(id, day, { source: "sendgrid", channel: "email", type: "track", event: "delivered", identifiers: [{ kind: "email", value: email }] })
const identify = (id: string, day: number, fields: Partial<CanonicalEvent>) => eventOn(id, day, { type: "identify", ...fields })

const CASES: ReadonlyArray<readonly [string, ReadonlyArray<CanonicalEvent>]> = [
  ["a login after anonymous browsing", [
    eventOn("view1", 1, { anonymousId: "a1" }), eventOn("view2", 2, { anonymousId: "a1" }),
    identify("login", 3, { anonymousId: "a1", userId: "u1", traits: { email: "ann@x.example" } }),
    mail("mail", 4, "ann@x.example"), eventOn("view3", 5, { anonymousId: "a1" }),
  ]],
  ["a device shared by two people at the same time", [
    identify("u1-on-d", 1, { anonymousId: "d", userId: "u1" }), identify("u2-on-d", 2, { anonymousId: "d", userId: "u2" }),
    identify("u1-again", 3, { anonymousId: "d", userId: "u1" }), eventOn("d-alone", 4, { anonymousId: "d" }),
    identify("u1-own", 5, { anonymousId: "a1", userId: "u1" }), identify("u2-own", 5, { anonymousId: "a2", userId: "u2" }),
  ]],
  ["an office address four people sign in with", [
    identify("o-u1", 1, { userId: "u1", traits: { email: "office@shop.example" } }), identify("o-u2", 2, { userId: "u2", traits: { email: "office@shop.example" } }),
    identify("o-u3", 3, { userId: "u3", traits: { email: "office@shop.example" } }), identify("o-u4", 4, { userId: "u4", traits: { email: "office@shop.example" } }),
    identify("o-u1-again", 5, { userId: "u1", traits: { email: "office@shop.example" } }), mail("to-office", 6, "office@shop.example"),
  ]],
  ["an address recycled after months unused", [
    identify("u1-email", 1, { userId: "u1", traits: { email: "box@x.example" } }), mail("to-u1", 2, "box@x.example"),
    identify("u2-email", 200, { userId: "u2", traits: { email: "box@x.example" } }), mail("to-u2", 201, "box@x.example"),
  ]],
  ["an address another user id holds, only claimed", [
    identify("u11", 1, { userId: "u11", traits: { email: "x@example.com" } }),
    identify("u10", 3, { userId: "u10", traits: { email: "x@example.com" } }), eventOn("u10-view", 3, { userId: "u10" }),
  ]],
  ["a phone a second account states, then a call from it", [
    identify("u1-phone", 1, { userId: "u1", traits: { phone: "+447700900111" } }),
    identify("u2-phone", 5, { userId: "u2", traits: { phone: "+447700900111" } }), call("call", 6, "+447700900111"),
  ]],
  ["two user ids on one browser, one after the other", [
    identify("a-u1", 1, { anonymousId: "a1", userId: "u1", traits: { email: "one@x.example" } }), eventOn("a-view", 2, { anonymousId: "a1" }),
    identify("a-u2", 3, { anonymousId: "a1", userId: "u2", traits: { email: "two@x.example" } }), eventOn("a-view2", 4, { anonymousId: "a1" }),
  ]],
]

describe("identity of small histories, however they are batched", () => {
  for (const [name, events] of CASES) {
    it(`${name}: every message ends in the whole history's profile, and every link's status is the same`, async () => {
      const whole = wholeHistory(events)
      const together = await landBatches([events])
      for (const [batching, batches] of [["one a call", fixedBatches(events, 1)], ["one a call, reversed", fixedBatches([...events].reverse(), 1)]] as const) {
        const r = await landBatches(batches)
        expect({ messages: difference(whole, r.current), links: changedKeys(together.links, r.links), identifiers: changedKeys(together.nodes, r.nodes) }, batching)
          .toEqual({ messages: { otherPart: 0, otherId: 0, examples: [] }, links: { count: 0, examples: [] }, identifiers: { count: 0, examples: [] } })
      }
      expect(difference(whole, together.current)).toEqual({ otherPart: 0, otherId: 0, examples: [] })
    })
  }
})

describe("a phone a second account states, then a call from it, landed one message a call", () => {
  it("is the second account's own on its profile (not flagged claimed), as when landed together", async () => {
    const phone = "+447700900111"
    const events = [
      identify("u1-phone", 1, { userId: "u1", traits: { phone } }), identify("u2-phone", 5, { userId: "u2", traits: { phone } }), call("call", 6, phone),
    ]
    const read = (batches: ReadonlyArray<ReadonlyArray<CanonicalEvent>>) => {
      const dir = freshDir()
      return withPipeline(dir, Effect.gen(function* () {
        const pipeline = yield* Pipeline
        for (const batch of batches) yield* pipeline.submit(batch, [])
        const profile = yield* readProfile("acme", "user_id:u2", 5, defaultIdentityConfig())
        return (profile as unknown as { identifiers: Array<{ kind: string; value: string; claimed?: string }> }).identifiers
          .filter((i) => i.kind === "phone").map((i) => ({ value: i.value, claimed: i.claimed !== undefined }))
      })).finally(() => removeDir(dir))
    }
    const together = await read([events])
    expect(together).toEqual([{ value: phone, claimed: false }])
    expect(await read(events.map((e) => [e]))).toEqual(together)
  })
})
