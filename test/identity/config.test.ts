// Identity rules per tenant from one setting (CDP_IDENTITY_RULES): provider rules for e-mail, extra blocked values and
// patterns, which trait fields hold identifiers, phone regions; validated with the bad field named; applied to
// stored data by a rebuild.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { identityConfigOf, parseIdentityRules, rebuildIdentity } from "../../identity/index.ts"
import { extractSightings } from "../../identity/extract.ts"
import { readAgain } from "../../identity/rebuild.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { eventOn } from "../support/events.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"

const RULES = parseIdentityRules(JSON.stringify({
  "*": { blockedValues: { email: ["office@shop.example"] }, phoneRegions: ["US"] },
  acme: {
    emailProviderRules: false,
    blockedPatterns: { email: ["@corp\\.example$"] },
    identifierFields: { work_email: "email", phone: null },
    phoneRegions: ["GB"],
  },
}))
const config = identityConfigOf(RULES, ["US"])

const sightings = (event: CanonicalEvent) => {
  const x = extractSightings(event, config.extract)
  return { linked: x.observation.sightings.map((s) => `${s.kind}:${s.value}`), refused: x.refused.map((r) => `${r.kind}:${r.reason}`) }
}
const identify = (tenant: string, traits: Record<string, string>) => ({ ...eventOn("m", 1, { type: "identify", userId: "u1", traits }), tenant })

describe("identity rules per tenant", () => {
  it("Gmail's dots and +tags are one mailbox by default; a tenant can turn provider rules off", () => {
    expect(sightings(identify("globex", { email: "A.nn+shop@googlemail.com" })).linked).toContain("email:ann@gmail.com")
    expect(sightings(identify("acme", { email: "A.nn+shop@googlemail.com" })).linked).toContain("email:a.nn+shop@googlemail.com")
  })

  it("blocked values of '*' hold for every tenant; a tenant's own patterns only for it", () => {
    expect(sightings(identify("globex", { email: "office@shop.example" })).refused).toEqual([expect.stringMatching(/^email:.*block list/)])
    expect(sightings(identify("acme", { email: "office@shop.example" })).refused).toHaveLength(1)
    expect(sightings(identify("acme", { email: "ann@corp.example" })).refused).toEqual([expect.stringMatching(/^email:.*blocked pattern/)])
    expect(sightings(identify("globex", { email: "ann@corp.example" })).linked).toContain("email:ann@corp.example")
    // The built-in list still holds.
    expect(sightings(identify("acme", { email: "test@test.com" })).refused).toHaveLength(1)
  })

  it("which trait fields hold identifiers is the tenant's: an added field links, a removed one does not", () => {
    expect(sightings(identify("acme", { work_email: "ann@x.example", phone: "+447700900123" })).linked).toEqual(["user_id:u1", "email:ann@x.example"])
    expect(sightings(identify("globex", { work_email: "ann@x.example", phone: "+447700900123" })).linked).toEqual(["user_id:u1", "phone:+447700900123"])
  })

  it("national phone numbers are read in the tenant's regions", () => {
    const call = (tenant: string) => ({ ...eventOn("c", 1, { source: "calls", channel: "call", identifiers: [{ kind: "phone", value: "020 7946 0958" }] }), tenant })
    expect(sightings(call("acme")).linked).toEqual(["phone:+442079460958"])
    expect(sightings(call("globex")).linked).not.toContain("phone:+442079460958")
  })

  it("a bad rule is refused naming its field", () => {
    const bad = (rules: unknown) => () => parseIdentityRules(JSON.stringify(rules))
    expect(bad({ acme: { phoneRegions: ["GB", "XX"] } })).toThrow(/^\/acme\/phoneRegions\/1: "XX" is not a two-letter country code/)
    expect(bad({ "*": { phoneRegion: ["GB"] } })).toThrow(/^\/\*\/phoneRegion: unknown field \(fields: emailProviderRules, /)
    expect(bad({ acme: { blockedPatterns: { email: ["(unclosed"] } } })).toThrow(/^\/acme\/blockedPatterns\/email\/0: not a regular expression/)
    expect(bad({ acme: { blockedValues: { shoe: ["9"] } } })).toThrow(/^\/acme\/blockedValues\/shoe: unknown identifier kind/)
    expect(bad({ acme: { identifierFields: { work_email: "mail" } } })).toThrow(/^\/acme\/identifierFields\/work_email: must be an identifier kind/)
    expect(bad({ acme: { emailProviderRules: "no" } })).toThrow(/^\/acme\/emailProviderRules: must be true or false/)
    expect(bad({ acme: { mailboxRules: { "corp.example": { ignoreDot: true } } } })).toThrow(/^\/acme\/mailboxRules\/corp\.example\/ignoreDot: unknown field/)
    expect(() => parseIdentityRules("{")).toThrow(/^\/: not JSON/)
  })
})

describe("a rule change applied by rebuild", () => {
  let dir: string
  beforeEach(() => { dir = freshDir() })
  afterEach(() => {
    delete process.env["CDP_IDENTITY_RULES"]
    removeDir(dir)
  })

  it("a stored value refused for want of a phone region reads with the tenant's new region; a blocked one stays refused", () => {
    const stored = {
      tenant: "acme", messageId: "m", timeMs: 0, timestamp: "2024-10-01T00:00:00.000Z",
      sightings: [{ kind: "user_id", value: "u1", raw: "u1", trust: "verified" }],
      refused: [
        { kind: "phone", raw: "07700 900123", reason: "a national phone number needs a region" },
        { kind: "email", raw: "test@test.com", reason: "blocked" },
      ],
    }
    const before = readAgain(stored, identityConfigOf({}, []).extract)
    expect(before.row).toBeUndefined()
    const after = readAgain(stored, config.extract)
    expect(after.observation.sightings).toEqual([{ kind: "user_id", value: "u1", trust: "verified" }, { kind: "phone", value: "+447700900123", trust: "unverified" }])
    expect(after.row?.refused).toEqual([{ kind: "email", raw: "test@test.com", reason: "blocked" }])
  })

  it("turning a tenant's provider rules off splits the Gmail spellings it had joined; other tenants keep theirs", () =>
    withPipeline(dir, Effect.gen(function* () {
      const spellings = (tenant: string) => [
        { ...eventOn("a", 1, { type: "identify", userId: "u1", traits: { email: "ann.lee@gmail.com" } }), tenant },
        { ...eventOn("b", 2, { source: "email", channel: "email", identifiers: [{ kind: "email", value: "annlee+shop@googlemail.com" }] }), tenant },
      ]
      yield* (yield* Pipeline).submit([...spellings("acme"), ...spellings("globex")], [])
      const profiles = Effect.map(
        query<{ tenant: string; n: string }>("SELECT tenant, toString(uniqExact(profile_id)) AS n FROM events GROUP BY tenant ORDER BY tenant"),
        (rows) => Object.fromEntries(rows.map((r) => [r.tenant, Number(r.n)])))
      expect(yield* profiles).toEqual({ acme: 1, globex: 1 })
      const off = identityConfigOf(parseIdentityRules('{"acme": {"emailProviderRules": false}}'))
      // The rebuild reads the stored raw values again with the tenant's new rules.
      const summary = yield* rebuildIdentity(off, undefined, { reread: true })
      expect(yield* profiles).toEqual({ acme: 2, globex: 1 })
      const moved = Object.fromEntries(summary.tenants.map((t) => [t.tenant, t.moved]))
      expect(moved["acme"]).toBeGreaterThan(0)
      expect(moved["globex"]).toBe(0)
      // Stored again as now read, so a restart (which reads the observations) agrees; a second rebuild moves nothing.
      expect(yield* query("SELECT s.value AS value FROM identity_observations FINAL ARRAY JOIN sightings AS s WHERE tenant = 'acme' AND message_id = 'b'"))
        .toEqual([{ value: "annlee+shop@googlemail.com" }])
      expect((yield* rebuildIdentity(off, undefined, { reread: true })).tenants.map((t) => t.moved)).toEqual([0, 0])
    })).then(() => {
      // The pipeline started with the new setting reads new messages the same way.
      process.env["CDP_IDENTITY_RULES"] = '{"acme": {"emailProviderRules": false}}'
      return withPipeline(dir, Effect.gen(function* () {
        yield* (yield* Pipeline).submit([{ ...eventOn("c", 3, { source: "email", channel: "email", identifiers: [{ kind: "email", value: "ann.lee@gmail.com" }] }), tenant: "acme" }], [])
        expect(yield* query("SELECT message_id FROM events WHERE tenant = 'acme' AND profile_id = (SELECT profile_id FROM events WHERE tenant = 'acme' AND message_id = 'a') ORDER BY message_id"))
          .toEqual([{ message_id: "a" }, { message_id: "c" }])
      }))
    }))
})
