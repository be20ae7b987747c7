import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { compileBlockRules, DEFAULT_BLOCK_RULES } from "../../identity/guardrails.ts"
import { defaultIdentityConfig, rebuildIdentity } from "../../identity/index.ts"
import { recordOperation } from "../../identity/operations.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { eventOn } from "../support/events.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const groups = Effect.map(
  query<{ ids: Array<string> }>("SELECT arraySort(groupArray(message_id)) AS ids FROM events WHERE tenant = 'acme' GROUP BY profile_id ORDER BY ids"),
  (rows) => rows.map((r) => r.ids.join(",")))

/** Ann browses, logs in, states her e-mail and phone; a call comes from that phone; a mail from that e-mail. */
const annsMessages = [
  eventOn("web", 1, { anonymousId: "a1" }),
  eventOn("login", 2, { type: "identify", anonymousId: "a1", userId: "u1", traits: { email: "ann@x.example", phone: "+447700900001" } }),
  eventOn("call", 3, { source: "calls", channel: "call", identifiers: [{ kind: "phone", value: "+447700900001" }] }),
  eventOn("mail", 4, { source: "email", channel: "email", identifiers: [{ kind: "email", value: "ann@x.example" }] }),
  eventOn("bob", 5, { userId: "u2" }),
]

describe("operators' decisions", () => {
  it("removing an identifier splits off what only it joined; its messages leave the profile, and the split is recorded", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit(annsMessages, [])
      expect(yield* groups).toEqual(["bob", "call,login,mail,web"])
      yield* recordOperation({ tenant: "acme", kind: "remove", a: "phone:+447700900001", b: "", reason: "a shop's number, typed by mistake" })
      const summary = yield* rebuildIdentity(defaultIdentityConfig(), "acme")
      expect(summary.tenants[0]).toMatchObject({ tenant: "acme", moved: 1 })
      expect(yield* groups).toEqual(["bob", "call", "login,mail,web"])
      expect(yield* query("SELECT kind FROM profile_merges WHERE reason LIKE '%rebuild%'")).toEqual([{ kind: "split" }])
    })))

  it("a rebuild that gives a whole profile a new id (its oldest identifier removed) records a merge, not a split", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit([
        eventOn("first", 1, { type: "identify", anonymousId: "a1", userId: "u1" }),
        eventOn("second", 2, { type: "identify", anonymousId: "a1", userId: "u1" }),
      ], [])
      const [before] = yield* query<{ profile_id: string }>("SELECT DISTINCT profile_id FROM events WHERE tenant = 'acme'")
      // The browser id is the oldest identifier (it sorts first in the first message): without it, the user id names the profile.
      yield* recordOperation({ tenant: "acme", kind: "remove", a: "anonymous_id:a1", b: "", reason: "a shared kiosk" })
      expect((yield* rebuildIdentity(defaultIdentityConfig(), "acme")).tenants[0]).toMatchObject({ moved: 2, profilesBefore: 1, profilesAfter: 1 })
      const after = yield* query<{ profile_id: string }>("SELECT DISTINCT profile_id FROM events WHERE tenant = 'acme'")
      expect(after).toHaveLength(1)
      expect(after[0]!.profile_id).not.toBe(before!.profile_id)
      expect(yield* query("SELECT kind, messages FROM profile_merges WHERE reason LIKE '%rebuild%'")).toEqual([{ kind: "merge", messages: "2" }])
    })))

  it("separating two identifiers reverts the merge that joined them; linking two joins them, with the operator as the rule", () =>
    withPipeline(dir, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      yield* pipeline.submit(annsMessages, [])
      yield* recordOperation({ tenant: "acme", kind: "separate", a: "user_id:u1", b: "email:ann@x.example", reason: "two people" })
      yield* rebuildIdentity(defaultIdentityConfig(), "acme")
      expect(yield* groups).toEqual(["bob", "call,login,web", "mail"])
      yield* recordOperation({ tenant: "acme", kind: "link", a: "user_id:u2", b: "email:ann@x.example", reason: "suggestion accepted" })
      yield* rebuildIdentity(defaultIdentityConfig(), "acme")
      expect(yield* groups).toEqual(["bob,mail", "call,login,web"])
      // The running pipeline's graph is reloaded, so a new message follows the decisions too.
      yield* pipeline.reloadIdentity
      yield* pipeline.submit([eventOn("mail2", 9, { source: "email", channel: "email", identifiers: [{ kind: "email", value: "ann@x.example" }] })], [])
      expect(yield* groups).toEqual(["bob,mail,mail2", "call,login,web"])
    })))

  it("a value blocked after it joined people splits what it had joined at the next rebuild", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit(annsMessages, [])
      const config = defaultIdentityConfig()
      const blocked = { ...config, extract: { ...config.extract, blocked: compileBlockRules({ ...DEFAULT_BLOCK_RULES, values: { ...DEFAULT_BLOCK_RULES.values, phone: ["+447700900001"] } }) } }
      yield* rebuildIdentity(blocked, "acme")
      expect(yield* groups).toEqual(["bob", "call", "login,mail,web"])
    })))

  it("profiles shows one row per person with identifiers, traits by event time and counts per channel", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit([...annsMessages, eventOn("later", 6, { type: "identify", userId: "u1", traits: { phone: "+447700900002" } })], [])
      const rows = yield* query<{ events: string; channels: Array<string>; events_call: string; identifiers: Array<[string, string]>; traits: Record<string, string> }>(
        "SELECT events, channels, events_call, identifiers, traits FROM profiles WHERE tenant = 'acme' ORDER BY events DESC")
      expect(rows).toHaveLength(2)
      expect(rows[0]).toMatchObject({ events: "5", channels: ["call", "email", "web"], events_call: "1" })
      expect(rows[0]!.identifiers).toEqual(expect.arrayContaining([["user_id", "u1"], ["email", "ann@x.example"], ["anonymous_id", "a1"]]))
      // The later statement of the phone wins, whatever the arrival order.
      expect(rows[0]!.traits).toMatchObject({ phone: '"+447700900002"', email: '"ann@x.example"' })
    })))
})
