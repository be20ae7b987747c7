import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { consentDropReason, consentingProfiles, consentState } from "../../consent/index.ts"
import { defaultIdentityConfig, rebuildIdentity, recordOperation } from "../../identity/index.ts"
import { ledgerOfMessages } from "../../warehouse/consent.ts"
import { profileReadScope } from "../../warehouse/profiles.ts"
import { freshDir, query, removeDir } from "../support/pipeline.ts"
import { ALL, prefs, submit, web, withConsent } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const profileOf = (messageId: string) =>
  Effect.map(query<{ profile_id: string }>("SELECT profile_id FROM events WHERE message_id = {id:String}", { id: messageId }), (r) => r[0]!.profile_id)

const mail = (id: string, at: string, signal?: string) =>
  web(id, at, {
    channel: "email", source: "sendgrid", identifiers: [{ kind: "email", value: "ann@x.example" }],
    properties: signal === undefined ? {} : { consent_signal: signal },
  })

/**
 * A profile read's consent takes the messages its scope says went elsewhere (`gone`) instead of reading their moves:
 * the same rows as with the moves, for each of these profiles, and a profile that lost messages lists none of theirs.
 */
const sameLedgerFromScope = (profiles: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    for (const profile of new Set(profiles)) {
      const scope = yield* profileReadScope("acme", profile)
      const now = Date.now()
      const withMoves = yield* ledgerOfMessages("acme", profile, scope.ids, now)
      const fromScope = yield* ledgerOfMessages("acme", profile, scope.ids, now, scope.gone)
      expect(fromScope.rows, profile).toEqual(withMoves.rows)
      for (const row of fromScope.rows) expect(scope.gone ?? [], profile).not.toContain(row.messageId)
    }
  })

describe("consent follows merges and splits", () => {
  it("a browser's consent reaches the profile it merges into, and leaves with the message that stated it when split", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([
        web("browse", "2024-10-01T10:00:00.000Z", { anonymousId: "a1", context: prefs(ALL(true)) }),
        mail("unsub", "2024-10-01T11:00:00.000Z", "unsubscribe"),
      ])
      const browser = yield* profileOf("browse")
      const mailbox = yield* profileOf("unsub")
      expect(browser).not.toBe(mailbox)
      expect((yield* consentState("acme", mailbox, "Analytics")).state).toBe("unknown")
      yield* submit([web("login", "2024-10-02T10:00:00.000Z", { type: "identify", anonymousId: "a1", userId: "u1", traits: { email: "ann@x.example" } })])
      const person = yield* profileOf("login")
      expect(yield* profileOf("browse")).toBe(person)
      expect(yield* profileOf("unsub")).toBe(person)
      expect(yield* consentState("acme", person, "Analytics")).toMatchObject({ state: "granted", since: { messageId: "browse" } })
      expect(yield* consentState("acme", person, "EmailMarketing")).toMatchObject({ state: "denied", since: { messageId: "unsub" } })
      expect(yield* consentingProfiles("acme", "Analytics")).toEqual([person])
      yield* sameLedgerFromScope([browser, mailbox, person])

      yield* recordOperation({ tenant: "acme", kind: "separate", a: "user_id:u1", b: "email:ann@x.example", reason: "two people" })
      yield* rebuildIdentity(defaultIdentityConfig(), "acme")
      const mailAfter = yield* profileOf("unsub")
      const webAfter = yield* profileOf("browse")
      expect(mailAfter).not.toBe(webAfter)
      expect((yield* consentState("acme", mailAfter, "EmailMarketing")).state).toBe("denied")
      expect((yield* consentState("acme", mailAfter, "Analytics")).state).toBe("unknown")
      expect((yield* consentState("acme", webAfter, "Analytics")).state).toBe("granted")
      expect((yield* consentState("acme", webAfter, "EmailMarketing")).state).toBe("unknown")
      expect(yield* consentingProfiles("acme", "Analytics")).toEqual([webAfter])

      yield* sameLedgerFromScope([browser, mailbox, person, mailAfter, webAfter])
      const split = yield* profileReadScope("acme", mailAfter)
      expect((yield* ledgerOfMessages("acme", mailAfter, split.ids, Date.now(), split.gone)).rows.map((r) => r.messageId)).toEqual(["unsub"])
    })))
})

describe("a refusal that a merge brings to stored messages", () => {
  it("strips the profile's stored messages from after the refusal, exactly as arriving ones are stripped", () =>
    withConsent(dir, Effect.gen(function* () {
      const content = (id: string, anonymousId: string, fields: Partial<Parameters<typeof web>[2]> = {}) => web(id, "2024-10-03T10:00:00.000Z", {
        type: "page", event: "Home", anonymousId, properties: { path: "/", url: "https://x.example/?e=ann", total: 3 },
        context: { ip: "192.0.2.1", locale: "en-GB", library: { name: "analytics.js" }, page: { title: "Home", url: "https://x.example/", path: "/" } },
        extra: { integrations: { All: true }, name: "Home" }, ...fields,
      })
      yield* submit([
        web("refusal", "2024-10-01T10:00:00.000Z", { anonymousId: "a1", context: prefs(ALL(false)) }),
        web("before", "2024-09-30T10:00:00.000Z", { anonymousId: "b1", userId: "u1" }),
        content("late", "b1", { userId: "u1" }),
        // The same content from the browser already known to have refused: stripped on arrival.
        content("twin", "a1"),
      ])
      const read = (id: string) => query<Record<string, unknown>>(
        "SELECT user_id, anonymous_id, traits, context, properties, extra, identifiers FROM events WHERE message_id = {id:String}", { id })
      expect((yield* read("late"))[0]).toMatchObject({ anonymous_id: "b1", user_id: "u1" })
      // The browser that refused logs in as u1: one person, whose refusal predates the stored message.
      yield* submit([web("login", "2024-10-04T10:00:00.000Z", { type: "identify", anonymousId: "a1", userId: "u1" })])
      expect(yield* profileOf("late")).toBe(yield* profileOf("refusal"))
      const late = (yield* read("late"))[0]!
      const twin = (yield* read("twin"))[0]!
      expect(late).toEqual({ ...twin })
      expect(late).toMatchObject({ anonymous_id: "", user_id: "", extra: '{"integrations":{"All":true},"consent_stripped":"Analytics"}' })
      expect(JSON.parse(late["context"] as string)).toEqual({ locale: "en-GB", library: { name: "analytics.js" }, page: { path: "/", title: "Home" } })
      expect((yield* read("before"))[0]).toMatchObject({ anonymous_id: "b1", user_id: "u1" })
    })))
})

describe("stored messages that a merge brings to a refusal", () => {
  it("a new browser's messages from after the person's refusal are stripped when it logs in, as arriving ones are", () =>
    withConsent(dir, Effect.gen(function* () {
      const read = (id: string) => Effect.map(query<Record<string, unknown>>(
        "SELECT anonymous_id, user_id, context, extra FROM events WHERE message_id = {id:String}", { id }), (r) => r[0]!)
      // Logged in, the person refuses everything; later a browser not yet known to be theirs browses; then it logs in.
      // Their account is the older profile, so the merge keeps its id: the refusal is no merged-in one.
      yield* submit([
        web("signup", "2024-09-01T10:00:00.000Z", { type: "identify", userId: "u1", anonymousId: "a1" }),
        web("refusal", "2024-10-01T10:00:00.000Z", { userId: "u1", anonymousId: "a1", context: prefs(ALL(false)) }),
      ])
      yield* submit([
        web("before", "2024-09-30T10:00:00.000Z", { type: "page", event: "Home", anonymousId: "b1", context: { ip: "192.0.2.9", locale: "en-GB" } }),
        web("late", "2024-10-03T10:00:00.000Z", { type: "page", event: "Home", anonymousId: "b1", context: { ip: "192.0.2.1", locale: "en-GB" } }),
      ])
      expect(yield* read("late")).toMatchObject({ anonymous_id: "b1", extra: "{}" })
      yield* submit([web("login", "2024-10-04T10:00:00.000Z", { type: "identify", anonymousId: "b1", userId: "u1" })])
      expect(yield* profileOf("late")).toBe(yield* profileOf("refusal"))
      const late = yield* read("late")
      expect(late).toMatchObject({ anonymous_id: "", user_id: "", extra: '{"consent_stripped":"Analytics"}' })
      expect(JSON.parse(late["context"] as string)).toEqual({ locale: "en-GB" })
      // What the browser did before the refusal was not refused then: kept as it was.
      expect(yield* read("before")).toMatchObject({ anonymous_id: "b1", extra: "{}" })
      expect(JSON.parse((yield* read("before"))["context"] as string)).toEqual({ ip: "192.0.2.9", locale: "en-GB" })
    })))
})

describe("enforcement at ingest", () => {
  it("by default a refused purpose keeps web messages with personal fields stripped; unknown consent is kept, not used", () =>
    withConsent(dir, Effect.gen(function* () {
      const pipeline = yield* submit([
        web("no", "2024-10-01T10:00:00.000Z", {
          type: "identify", anonymousId: "a1", userId: "u1", traits: { email: "ann@x.example", name: "Ann" },
          identifiers: [{ kind: "phone", value: "+447700900001" }],
          context: { ...prefs(ALL(false)), ip: "192.0.2.1", userAgent: "UA", locale: "en-GB", page: { path: "/p", url: "https://x.example/p?email=ann@x.example", title: "P" } },
        }),
        web("unknown", "2024-10-01T10:00:00.000Z", { anonymousId: "b1", context: { ip: "192.0.2.2" } }),
      ])
      const rows = yield* query<Record<string, unknown>>(
        "SELECT message_id, user_id, anonymous_id, traits, context, identifiers, extra FROM events ORDER BY message_id")
      expect(rows.map((r) => ({ ...r, context: JSON.parse(r["context"] as string) }))).toEqual([
        {
          message_id: "no", user_id: "", anonymous_id: "", traits: "{}", identifiers: [], extra: '{"consent_stripped":"CrmSync"}',
          context: { locale: "en-GB", consent: { categoryPreferences: ALL(false) }, page: { path: "/p", title: "P" } },
        },
        { message_id: "unknown", user_id: "", anonymous_id: "b1", traits: "{}", identifiers: [], extra: "{}", context: { ip: "192.0.2.2" } },
      ])
      expect(pipeline.counters.dropped).toBe(0)
      // Still the person's row (the profile id is kept), so erasure finds it and every use asks the ledger.
      expect(yield* consentingProfiles("acme", "Analytics")).toEqual([])
    })))

  it("configured to drop, a refused purpose's messages are not stored, and the drop is counted by reason", () =>
    withConsent(dir, Effect.gen(function* () {
      const pipeline = yield* submit([
        web("yes", "2024-10-01T10:00:00.000Z", { anonymousId: "a1", context: prefs(ALL(true)) }),
        web("no", "2024-10-01T10:00:00.000Z", { anonymousId: "b1", context: prefs(ALL(false)) }),
        web("no-later", "2024-10-02T10:00:00.000Z", { anonymousId: "b1" }),
        web("unknown", "2024-10-02T10:00:00.000Z", { anonymousId: "c1" }),
      ])
      expect(yield* query("SELECT message_id FROM events ORDER BY message_id")).toEqual([{ message_id: "yes" }])
      expect(pipeline.counters.dropReasons).toEqual({ [consentDropReason("Analytics")]: 3 })
      // The refusal itself is on the ledger although its message was not stored: the proof is kept.
      expect(yield* query("SELECT message_id, state FROM consent_ledger WHERE purpose = 'Analytics' ORDER BY message_id"))
        .toEqual([{ message_id: "no", state: "denied" }, { message_id: "yes", state: "granted" }])
    }), { "*": { purposes: { Analytics: { onDenied: "drop", onUnknown: "drop" } } } }))

  it("a web identify is governed by CrmSync, a page view by Analytics: each is stripped only when its own purpose is refused", () =>
    withConsent(dir, Effect.gen(function* () {
      const said = prefs({ ...ALL(true), CrmSync: false })
      yield* submit([
        web("view", "2024-10-01T10:00:00.000Z", { type: "page", anonymousId: "a1", context: said }),
        web("who", "2024-10-01T10:01:00.000Z", { type: "identify", anonymousId: "a1", userId: "u1", traits: { email: "ann@x.example" }, context: said }),
        web("view2", "2024-10-02T10:00:00.000Z", { type: "page", anonymousId: "b1", context: prefs({ ...ALL(false), CrmSync: true }) }),
        web("who2", "2024-10-02T10:01:00.000Z", { type: "identify", anonymousId: "b1", userId: "u2", traits: { name: "Bo" } }),
      ])
      expect(yield* query("SELECT message_id, anonymous_id, user_id, traits, extra FROM events ORDER BY message_id")).toEqual([
        { message_id: "view", anonymous_id: "a1", user_id: "", traits: "{}", extra: "{}" },
        { message_id: "view2", anonymous_id: "", user_id: "", traits: "{}", extra: '{"consent_stripped":"Analytics"}' },
        { message_id: "who", anonymous_id: "", user_id: "", traits: "{}", extra: '{"consent_stripped":"CrmSync"}' },
        { message_id: "who2", anonymous_id: "b1", user_id: "u2", traits: '{"name":"Bo"}', extra: "{}" },
      ])
    })))

  it("the purpose of a channel's message type is configurable per tenant (CDP_CONSENT messages)", () =>
    withConsent(dir, Effect.gen(function* () {
      const said = prefs({ ...ALL(true), Personalization: false })
      yield* submit([
        web("who", "2024-10-01T10:01:00.000Z", { type: "identify", anonymousId: "a1", userId: "u1", traits: { email: "ann@x.example" }, context: said }),
        web("buy", "2024-10-01T10:02:00.000Z", { anonymousId: "a1", event: "Order Completed", context: said }),
      ])
      expect(yield* query("SELECT message_id, user_id, extra FROM events ORDER BY message_id")).toEqual([
        { message_id: "buy", user_id: "", extra: "{}" },
        { message_id: "who", user_id: "", extra: '{"consent_stripped":"Personalization"}' },
      ])
    }), { "*": { messages: { "*/identify": "Personalization" } } }))

  it("a tenant's own policy overrides the default one", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([
        web("acme-no", "2024-10-01T10:00:00.000Z", { anonymousId: "a1", context: prefs(ALL(false)) }),
        web("globex-no", "2024-10-01T10:00:00.000Z", { tenant: "globex", anonymousId: "a1", context: prefs(ALL(false)) }),
      ])
      expect(yield* query("SELECT tenant, anonymous_id FROM events ORDER BY tenant")).toEqual([
        { tenant: "acme", anonymous_id: "a1" }, { tenant: "globex", anonymous_id: "" },
      ])
    }), { acme: { purposes: { Analytics: { onDenied: "keep" } } } }))

  it("a post by an author who objected to SocialListening is counted but stored without its author or text", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([
        web("said-no", "2024-10-01T10:00:00.000Z", { type: "identify", userId: "u1", traits: { twitter: "annx" }, context: prefs({ SocialListening: false }) }),
        web("tweet", "2024-10-02T10:00:00.000Z", {
          channel: "social", source: "twitter", text: "love the new jacket", identifiers: [{ kind: "twitter_handle", value: "annx" }],
          properties: { public_metrics: { like_count: 3 }, author_followers: 10, author_description: "Ann from Leeds", mentions: ["bob"] },
        }),
      ])
      const [row] = yield* query<Record<string, unknown>>("SELECT identifiers, properties, extra FROM events WHERE message_id = 'tweet'")
      expect(row).toEqual({ identifiers: [], properties: '{"public_metrics":{"like_count":3},"author_followers":10}', extra: '{"consent_stripped":"SocialListening"}' })
      expect(yield* query("SELECT count() AS n FROM texts")).toEqual([{ n: "0" }])
    })))
})
