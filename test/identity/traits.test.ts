// Trait precedence: which statement of a trait a profile shows (showProfile, GET /v1/profiles and the profiles view
// alike): the highest-ranked source, then the latest by event time, whatever the arrival order, across merges and
// splits; configurable per tenant and trait (CDP_TRAIT_PRECEDENCE).
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { defaultIdentityConfig, parseIdentifier, rebuildIdentity, recordOperation, showProfile, syncTraitPrecedence } from "../../identity/index.ts"
import type { IdentifierRef } from "../../identity/index.ts"
import { DEFAULT_TRAIT_PRECEDENCE, mergeTraits, parseTraitPrecedence, type TraitPrecedence } from "../../identity/traits.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { eventOn } from "../support/events.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const ref = (text: string) => parseIdentifier(text) as IdentifierRef

/** Ann signs up (a logged-in identify), later states another name in a chat pre-form, then in a mail signature. */
const signUp = eventOn("signup", 1, { type: "identify", userId: "u1", anonymousId: "a1", traits: { name: "Ann Lee", email: "ann@x.example", plan: "free" } })
const chat = eventOn("chat", 5, { source: "chat", channel: "chat", anonymousId: "a1", traits: { name: "annie" } })
const mail = eventOn("mail", 7, { source: "email", channel: "email", identifiers: [{ kind: "email", value: "ann@x.example" }], traits: { name: "A. Lee" } })
const upgrade = eventOn("upgrade", 3, { type: "identify", userId: "u1", traits: { plan: "pro" } })

/** The profiles view's traits of the profile holding u1: value (JSON text), source and time of each. */
const viewTraits = Effect.gen(function* () {
  const [row] = yield* query<{ traits: Record<string, string>; trait_sources: Record<string, string>; trait_times: Record<string, string> }>(
    "SELECT traits, trait_sources, trait_times FROM profiles WHERE tenant = 'acme' AND has(identifiers, ('user_id', 'u1'))")
  return row!
})

const shown = (traits: Record<string, { value: unknown; source: string; at: string }>) =>
  Object.fromEntries(Object.entries(traits).map(([k, t]) => [k, `${JSON.stringify(t.value)} ${t.source} ${t.at.slice(0, 10)}`]))

describe("trait precedence", () => {
  it("a logged-in identify beats a later chat pre-form and mail signature; among equals the latest by event time wins", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit([signUp, chat, mail, upgrade], [])
      const profile = yield* showProfile("acme", ref("user_id:u1"))
      expect(shown(profile.traits)).toEqual({
        name: '"Ann Lee" segment 2024-10-01', email: '"ann@x.example" segment 2024-10-01', plan: '"pro" segment 2024-10-03',
      })
      const view = yield* viewTraits
      expect(view.traits).toEqual({ name: '"Ann Lee"', email: '"ann@x.example"', plan: '"pro"' })
      expect(view.trait_sources).toEqual({ name: "segment", email: "segment", plan: "segment" })
      expect(view.trait_times["plan"]).toMatch(/^2024-10-03/)
    })))

  it("with no ranking (an empty list), the latest statement by event time wins, from any source", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit([signUp, chat, mail, upgrade], [])
      const flat: TraitPrecedence = { "*": { "*": [] } }
      expect(shown((yield* showProfile("acme", ref("user_id:u1"), 20, flat)).traits)).toMatchObject({ name: '"A. Lee" email 2024-10-07' })
      yield* syncTraitPrecedence(flat)
      expect((yield* viewTraits).traits).toMatchObject({ name: '"A. Lee"' })
    })))

  it("a late-arriving older statement does not replace a newer one of the same rank", () =>
    withPipeline(dir, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      yield* pipeline.submit([signUp, upgrade], [])
      // Sent last, stated first: the plan of day 2 is older than the "pro" of day 3.
      yield* pipeline.submit([eventOn("late", 2, { type: "identify", userId: "u1", traits: { plan: "trial" } })], [])
      expect(shown((yield* showProfile("acme", ref("user_id:u1"))).traits)).toMatchObject({ plan: '"pro" segment 2024-10-03' })
      expect((yield* viewTraits).traits).toMatchObject({ plan: '"pro"' })
    })))

  it("a merge brings the other profile's statements in, ranked the same way; a split takes them out again", () =>
    withPipeline(dir, Effect.gen(function* () {
      const pipeline = yield* Pipeline
      // Two profiles: the logged-in Ann, and a chat visitor who gives her name and (later) Ann's e-mail.
      const visitor = eventOn("visitor", 9, { source: "chat", channel: "chat", anonymousId: "v9", traits: { name: "annie", city: "Leeds" } })
      yield* pipeline.submit([signUp, visitor], [])
      expect(shown((yield* showProfile("acme", ref("anonymous_id:v9"))).traits)).toEqual({ name: '"annie" chat 2024-10-09', city: '"Leeds" chat 2024-10-09' })
      yield* pipeline.submit([eventOn("visitor-mail", 10, { source: "chat", channel: "chat", anonymousId: "v9", identifiers: [{ kind: "email", value: "ann@x.example" }] })], [])
      const merged = yield* showProfile("acme", ref("anonymous_id:v9"))
      expect(merged.profileId).toBe((yield* showProfile("acme", ref("user_id:u1"))).profileId)
      // The identify's name outranks the chat's later one; the chat's city is the only statement of city.
      expect(shown(merged.traits)).toMatchObject({ name: '"Ann Lee" segment 2024-10-01', city: '"Leeds" chat 2024-10-09' })
      expect((yield* viewTraits).traits).toMatchObject({ name: '"Ann Lee"', city: '"Leeds"' })
      // The operator takes the e-mail out of linking: the visitor's part splits off with its own traits.
      yield* recordOperation({ tenant: "acme", kind: "remove", a: "email:ann@x.example", b: "", reason: "typed by someone else" })
      yield* rebuildIdentity(defaultIdentityConfig(), "acme")
      expect(shown((yield* showProfile("acme", ref("user_id:u1"))).traits)).toEqual({
        name: '"Ann Lee" segment 2024-10-01', email: '"ann@x.example" segment 2024-10-01', plan: '"free" segment 2024-10-01',
      })
      expect((yield* viewTraits).traits).toEqual({ name: '"Ann Lee"', email: '"ann@x.example"', plan: '"free"' })
    })))

  it("a tenant's own list for a trait beats the '*' lists, in showProfile and in the profiles view", () =>
    withPipeline(dir, Effect.gen(function* () {
      yield* (yield* Pipeline).submit([signUp, chat, mail], [])
      const precedence = parseTraitPrecedence(JSON.stringify({ acme: { name: ["email", "segment:identified"] }, globex: { "*": ["chat"] } }))
      expect(shown((yield* showProfile("acme", ref("user_id:u1"), 20, precedence)).traits)).toMatchObject({
        name: '"A. Lee" email 2024-10-07', email: '"ann@x.example" segment 2024-10-01',
      })
      yield* syncTraitPrecedence(precedence)
      expect((yield* viewTraits).trait_sources).toMatchObject({ name: "email", email: "segment" })
      // Stored once: the same setting again writes nothing.
      expect(yield* syncTraitPrecedence(precedence)).toBe(false)
    })))
})

describe("corrections", () => {
  it("a rectification (source dsr) beats every configured source, even an older one against a tenant's own first choice", () =>
    withPipeline(dir, Effect.gen(function* () {
      const rectified = eventOn("dsr:r1", 2, { type: "identify", source: "dsr", userId: "u1", traits: { name: "Ann Lee-Smith" } })
      yield* (yield* Pipeline).submit([signUp, rectified, mail], [])
      const precedence = parseTraitPrecedence(JSON.stringify({ acme: { name: ["email"] } }))
      expect(shown((yield* showProfile("acme", ref("user_id:u1"), 20, precedence)).traits)).toMatchObject({ name: '"Ann Lee-Smith" dsr 2024-10-02' })
      yield* syncTraitPrecedence(precedence)
      expect((yield* viewTraits).trait_sources).toMatchObject({ name: "dsr" })
    })))
})

describe("CDP_TRAIT_PRECEDENCE", () => {
  it("adds to the built-in default and refuses a bad entry naming its field", () => {
    expect(parseTraitPrecedence('{"acme": {"name": ["crm"]}}')).toEqual({ ...DEFAULT_TRAIT_PRECEDENCE, acme: { name: ["crm"] } })
    expect(() => parseTraitPrecedence('{"acme": {"name": "crm"}}')).toThrow(/^\/acme\/name: must be an array/)
    expect(() => parseTraitPrecedence('{"acme": {"name": ["CRM!"]}}')).toThrow(/^\/acme\/name\/0: must be a source name/)
    expect(() => parseTraitPrecedence('{"acme": []}')).toThrow(/^\/acme: must be an object/)
    expect(() => parseTraitPrecedence("[")).toThrow(/^\/: not JSON/)
  })

  it("ranks SOURCE:identified only for messages with a userId, and ties by event time then message id", () => {
    const at = (d: number) => `2024-10-0${d} 00:00:00.000`
    const statement = (source: string, identified: boolean, day: number, messageId: string, value: string) =>
      ({ name: "name", value: JSON.stringify(value), source, identified, at: at(day), messageId, firstAt: at(day) })
    const p: TraitPrecedence = { "*": { "*": ["segment:identified", "email"] } }
    expect(mergeTraits([statement("segment", true, 1, "m1", "A"), statement("email", false, 3, "m2", "B")], p, "t")["name"]!.value).toBe("A")
    expect(mergeTraits([statement("segment", false, 1, "m1", "A"), statement("email", false, 3, "m2", "B")], p, "t")["name"]!.value).toBe("B")
    expect(mergeTraits([statement("chat", false, 2, "m9", "C"), statement("chat", false, 2, "m1", "D")], p, "t")["name"]!.value).toBe("C")
  })
})
