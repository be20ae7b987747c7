// Every data-subject right end to end on a small landed sample (real pipeline, embedded engine): what each request
// does, its status with counts of what was done where, its signed receipt and audit trail.
import { join } from "node:path"
import { Effect } from "effect"
import { strFromU8, unzipSync } from "fflate"
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { parse } from "csv-parse/sync"
import { readAudit, verifyAudit, verifyReceipt } from "../../consent/audit.ts"
import { type DsrRecord, requestStatus, submitRequest } from "../../consent/dsr.ts"
import { consentingProfiles, consentState } from "../../consent/ledger.ts"
import { defaultIdentityConfig, rebuildIdentity, recordOperation, syncTraitPrecedence } from "../../identity/index.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { eventOn } from "../support/events.ts"
import { migratedTemplate, type MigratedTemplate } from "../support/migrated-dir.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"
import { ANN, TENANT, withSample } from "./dsr-support.ts"

let dir: string
/** Each test's data dir starts as a copy of one migrated once for the file (a fresh warehouse migrates for ~3 s). */
let template: MigratedTemplate
beforeAll(async () => {
  template = await migratedTemplate((d) => withPipeline(d, Effect.void))
})
afterAll(() => template?.remove())
beforeEach(() => {
  dir = freshDir()
  template.copyTo(join(dir, "data"))
})
afterEach(() => removeDir(dir))

const getObject = (key: string) => Effect.gen(function* () {
  return yield* (yield* ObjectStore).get(key)
})

const done = (r: DsrRecord, where: string, what: string) => r.done.find((d) => d.where === where && d.what === what)?.count

const profileOf = (userId: string) =>
  Effect.map(query<{ profile_id: string }>("SELECT DISTINCT profile_id FROM events WHERE tenant = {t:String} AND user_id = {u:String}", { t: TENANT, u: userId }),
    (rows) => rows[0]!.profile_id)

describe("data-subject requests", () => {
  it("access: a zip of everything held about the person, with purposes, sources and recipients; a signed receipt and a trail", async () => {
    await withSample(dir, (env) => Effect.gen(function* () {
      const r = yield* submitRequest(env, { tenant: TENANT, type: "access", identifier: `email:${ANN.email}` })
      expect(r.status, r.error).toBe("completed")
      expect(r.dueAtMs - r.receivedAtMs).toBeGreaterThanOrEqual(28 * 86_400_000)
      expect(done(r, "event_rows", "exported")).toBe(4)
      const bundle = r.details["bundle"] as { key: string; bytes: number }
      const files = unzipSync((yield* getObject(bundle.key))!)
      const json = JSON.parse(strFromU8(files["subject.json"]!))
      expect(json.request.id).toBe(r.requestId)
      expect(json.data.event_rows.map((e: { message_id: string }) => e.message_id).sort()).toEqual(["w-ann-1", "w-ann-2", "w-ann-3", "w-ann-4"])
      expect(JSON.stringify(json)).not.toContain("bob@z.example")
      expect(json.subject.identifiers).toContainEqual(expect.objectContaining({ kind: "email", value: ANN.normalised }))
      const analytics = json.purposes.find((p: { purpose: string }) => p.purpose === "Analytics")
      expect(analytics).toMatchObject({ basis: "consent", state: "granted", used: true })
      expect(analytics.since.messageId).toBe("w-ann-2")
      expect(json.purposes.find((p: { purpose: string }) => p.purpose === "Advertising")).toMatchObject({ state: "denied", used: false })
      expect(json.sources).toContainEqual({ source: "segment", channel: "web", messages: 4 })
      expect(json.recipients).toContain("the tenant's analysts (read-only queries and reports)")
      const csv = parse(strFromU8(files["csv/event_rows.csv"]!), { columns: true }) as Array<Record<string, string>>
      expect(csv.map((row) => row["message_id"]).sort()).toEqual(["w-ann-1", "w-ann-2", "w-ann-3", "w-ann-4"])

      expect(verifyReceipt(env.signer, r.receipt as Record<string, unknown>)).toBe(true)
      expect((r.receipt as { done: unknown }).done).toEqual(r.done)
      const status = yield* requestStatus(r.requestId)
      expect(status.request.status).toBe("completed")
      expect(status.trail.map((t) => t.kind)).toEqual(["dsr.received", "dsr.running", "dsr.completed"])
      expect((yield* verifyAudit(env.signer)).ok).toBe(true)
    }))
  })

  it("portability: the person's rows as JSON and CSV in a zip", async () => {
    await withSample(dir, (env) => Effect.gen(function* () {
      const r = yield* submitRequest(env, { tenant: TENANT, type: "portability", identifier: `user_id:${ANN.userId}` })
      expect(r.status, r.error).toBe("completed")
      const files = unzipSync((yield* getObject((r.details["bundle"] as { key: string }).key))!)
      const json = JSON.parse(strFromU8(files["subject.json"]!))
      expect(json.purposes).toBeUndefined()
      const identify = json.data.event_rows.find((e: { message_id: string }) => e.message_id === "w-ann-2")
      expect(JSON.parse(identify.traits)).toMatchObject({ name: "Ann Lee", city: "York" })
      const csv = parse(strFromU8(files["csv/event_rows.csv"]!), { columns: true }) as Array<Record<string, string>>
      expect(csv).toHaveLength(4)
      // One CSV per store.
      expect(Object.keys(files).filter((f) => f.endsWith(".csv")).length).toBe(Object.keys(json.data).length)
    }))
  })

  it("rectification: the corrected value wins over every older statement and shows with source dsr", async () => {
    await withSample(dir, (env) => Effect.gen(function* () {
      // Profiles rank trait statements by source first (CDP_TRAIT_PRECEDENCE): a rectification's source, "dsr", ranks
      // above a logged-in identify.
      yield* syncTraitPrecedence({ "*": { "*": ["dsr", "segment:identified"] } })
      const r = yield* submitRequest(env, { tenant: TENANT, type: "rectification", identifier: `phone:${ANN.phone}`, set: { name: "Ann Smith", city: "Leeds" } })
      expect(r.status, r.error).toBe("completed")
      expect(done(r, "event_rows", "traits rectified")).toBe(2)
      const profile = yield* profileOf(ANN.userId)
      const [row] = yield* query<{ traits: Record<string, string>; trait_sources: Record<string, string> }>(
        "SELECT traits, trait_sources FROM profiles WHERE tenant = {t:String} AND profile_id = {p:String}", { t: TENANT, p: profile })
      expect(JSON.parse(row!.traits["name"]!)).toBe("Ann Smith")
      expect(JSON.parse(row!.traits["city"]!)).toBe("Leeds")
      expect(row!.trait_sources["name"]).toBe("dsr")
      // The values themselves are not in the request's record or its audit trail.
      const [stored] = yield* query<Record<string, string>>("SELECT * FROM dsr_requests FINAL WHERE request_id = {id:String}", { id: r.requestId })
      expect(JSON.stringify(stored)).not.toContain("Ann Smith")
      expect(JSON.stringify(yield* readAudit)).not.toContain("Ann Smith")
    }))
  })

  it("rectification follows the person's identifiers: a merge after it carries the corrected value to the merged profile", async () => {
    await withSample(dir, (env) => Effect.gen(function* () {
      yield* syncTraitPrecedence({ "*": { "*": ["dsr", "segment:identified"] } })
      const pipeline = yield* Pipeline
      // A browser seen before Ann's first visit: its own profile, older than hers.
      yield* pipeline.submit([eventOn("w-old-1", 1, { tenant: TENANT, anonymousId: "anon-old", timestamp: "2024-08-01T10:00:00.000Z" })], [], { archive: false })
      const older = yield* Effect.map(query<{ profile_id: string }>("SELECT profile_id FROM events WHERE message_id = 'w-old-1'"), (r) => r[0]!.profile_id)
      expect(older).not.toBe(yield* profileOf(ANN.userId))
      const r = yield* submitRequest(env, { tenant: TENANT, type: "rectification", identifier: `email:${ANN.email}`, set: { name: "Ann Smith" } })
      expect(r.status, r.error).toBe("completed")
      // Ann logs in on that browser: her profile merges into the older one, which keeps its id.
      yield* pipeline.submit([eventOn("w-old-2", 1, { tenant: TENANT, anonymousId: "anon-old", userId: ANN.userId, timestamp: "2024-10-01T10:00:00.000Z" })], [], { archive: false })
      expect(yield* profileOf(ANN.userId)).toBe(older)
      const rows = yield* query<{ profile_id: string; traits: Record<string, string>; trait_sources: Record<string, string> }>(
        "SELECT profile_id, traits, trait_sources FROM profiles WHERE tenant = {t:String} AND has(mapKeys(traits), 'name')", { t: TENANT })
      const ann = rows.find((row) => row.profile_id === older)!
      expect(JSON.parse(ann.traits["name"]!)).toBe("Ann Smith")
      expect(ann.trait_sources["name"]).toBe("dsr")
      // No profile is left holding the correction alone.
      expect(rows.filter((row) => row.trait_sources["name"] === "dsr").map((row) => row.profile_id)).toEqual([older])
    }))
  })

  it("rectification after a split: each statement stays with whoever holds the identifier it carries", async () => {
    await withSample(dir, (env) => Effect.gen(function* () {
      const r = yield* submitRequest(env, { tenant: TENANT, type: "rectification", identifier: `email:${ANN.email}`, set: { city: "Leeds" } })
      expect(r.status, r.error).toBe("completed")
      yield* recordOperation({ tenant: TENANT, kind: "separate", a: `user_id:${ANN.userId}`, b: `email:${ANN.normalised}`, reason: "two people" })
      yield* rebuildIdentity(defaultIdentityConfig(), TENANT)
      const statements = yield* query<{ message_id: string; profile_id: string; user_id: string; anonymous_id: string; id_kind: string; id_value: string }>(
        "SELECT message_id, profile_id, user_id, anonymous_id, if(empty(identifiers), '', toString(identifiers[1].1)) AS id_kind, " +
          "if(empty(identifiers), '', toString(identifiers[1].2)) AS id_value FROM events WHERE tenant = {t:String} AND source = 'dsr' ORDER BY message_id",
        { t: TENANT })
      expect(statements).toHaveLength(4)
      const owners = new Set<string>()
      for (const st of statements) {
        const [kind, value] = st.user_id !== "" ? ["user_id", st.user_id] : st.anonymous_id !== "" ? ["anonymous_id", st.anonymous_id]
          : [st.id_kind, st.id_value]
        const [owner] = yield* query<{ profile_id: string }>(
          "SELECT argMax(profile_id, (slice, version)) AS profile_id FROM identity_nodes WHERE tenant = {t:String} AND kind = {k:String} AND value = {v:String}",
          { t: TENANT, k: kind, v: value })
        expect(st.profile_id, kind).toBe(owner!.profile_id)
        owners.add(st.profile_id)
      }
      // The split parted Ann's identifiers: the correction is with both parts, each through its own identifiers.
      expect(owners.size).toBe(2)
    }))
  })

  it("restriction: the data is kept, and consent answers no for every purpose while restricted", async () => {
    await withSample(dir, (env) => Effect.gen(function* () {
      const ann = yield* profileOf(ANN.userId)
      const bob = yield* profileOf("u-bob")
      expect((yield* consentState(TENANT, ann, "Analytics")).allowed).toBe(true)
      expect(yield* consentingProfiles(TENANT, "SocialListening")).toContain(ann)
      const r = yield* submitRequest(env, { tenant: TENANT, type: "restriction", identifier: `email:${ANN.email}` })
      expect(r.status, r.error).toBe("completed")
      // Ann's own identifiers (e-mail, phone, user id, browser), not her profile id: merges carry them.
      expect(done(r, "subject_restrictions", "restricted")).toBe(4)
      for (const purpose of ["Analytics", "SocialListening", "EmailMarketing"]) {
        const s = yield* consentState(TENANT, ann, purpose)
        expect(s.allowed, purpose).toBe(false)
        expect(s.restricted).toBe(true)
      }
      expect(yield* consentingProfiles(TENANT, "SocialListening")).not.toContain(ann)
      expect(yield* consentingProfiles(TENANT, "SocialListening")).toContain(bob)
      // A question about a time before the restriction is answered as it was then.
      expect((yield* consentState(TENANT, ann, "Analytics", r.receivedAtMs - 1000)).allowed).toBe(true)
      const [kept] = yield* query<{ n: string }>("SELECT count() AS n FROM events WHERE tenant = {t:String} AND profile_id = {p:String}", { t: TENANT, p: ann })
      expect(Number(kept!.n)).toBe(4)
      // Lifted (the grounds are gone): processing may resume.
      const lifted = yield* submitRequest(env, { tenant: TENANT, type: "restriction", identifier: `email:${ANN.email}`, lift: true })
      expect(done(lifted, "subject_restrictions", "restriction lifted")).toBe(4)
      expect((yield* consentState(TENANT, ann, "Analytics")).allowed).toBe(true)
      expect(yield* consentingProfiles(TENANT, "SocialListening")).toContain(ann)
    }))
  })

  it("objection: a refusal of every legitimate-interest purpose, recorded in the consent ledger with the request as proof", async () => {
    await withSample(dir, (env) => Effect.gen(function* () {
      const ann = yield* profileOf(ANN.userId)
      const r = yield* submitRequest(env, { tenant: TENANT, type: "objection", identifier: `email:${ANN.email}` })
      expect(r.status, r.error).toBe("completed")
      expect(r.details["purposes"]).toEqual(["EmailMarketing", "SocialListening"])
      expect(done(r, "consent_ledger", "objection recorded")).toBe(2)
      const social = yield* consentState(TENANT, ann, "SocialListening")
      expect(social).toMatchObject({ state: "denied", allowed: false })
      expect(social.since?.messageId).toBe(`dsr:${r.requestId}`)
      // Consent-based purposes are not touched by an objection.
      expect((yield* consentState(TENANT, ann, "Analytics")).allowed).toBe(true)
    }))
  })

  it("erasure: the person is gone everywhere with their earlier access bundle; others keep theirs; no identifier in requests or audit", { timeout: 180_000 }, async () => {
    await withSample(dir, (env) => Effect.gen(function* () {
      const access = yield* submitRequest(env, { tenant: TENANT, type: "access", identifier: `email:${ANN.email}` })
      const bundleKey = (access.details["bundle"] as { key: string }).key
      expect(yield* getObject(bundleKey)).toBeDefined()
      const r = yield* submitRequest(env, { tenant: TENANT, type: "erasure", identifier: `phone:${ANN.phone}` })
      expect(r.status, r.error).toBe("completed")
      expect(done(r, "object store dsr/bundles/", "erased")).toBe(1)
      expect(done(r, "event_rows", "erased")).toBe(4)
      expect(yield* getObject(bundleKey)).toBeUndefined()
      const [left] = yield* query<{ ann: string; bob: string }>(
        "SELECT countIf(user_id = 'u-ann' OR anonymous_id = 'anon-ann') AS ann, countIf(user_id = 'u-bob') AS bob FROM events WHERE tenant = {t:String}", { t: TENANT })
      expect(Number(left!.ann)).toBe(0)
      expect(Number(left!.bob)).toBe(2)
      // The requests and their proof survive, and name the person only by keyed hashes.
      const requests = JSON.stringify(yield* query("SELECT * FROM dsr_requests"))
      const audit = JSON.stringify(yield* readAudit)
      for (const text of [ANN.normalised, ANN.email, ANN.e164, ANN.e164.slice(1), ANN.userId, "anon-ann"]) {
        expect(requests).not.toContain(text)
        expect(audit).not.toContain(text)
      }
      const status = yield* requestStatus(access.requestId)
      expect(status.trail.map((t) => t.kind)).toEqual(["dsr.received", "dsr.running", "dsr.completed"])
      const v = yield* verifyAudit(env.signer)
      expect(v.ok).toBe(true)
      expect(v.entries).toBe(6)
      expect(verifyReceipt(env.signer, r.receipt as Record<string, unknown>)).toBe(true)
    }))
  })

  it("erasure removes the objects naming the person in the tenant's own areas only, never another tenant's", { timeout: 180_000 }, async () => {
    // Probing found an erasure of one tenant removing every object of every tenant that named the identifier or
    // profile id: another tenant's access bundles, export files and connector state (another controller's data).
    await withSample(dir, (env) => Effect.gen(function* () {
      const store = yield* ObjectStore
      const text = new TextEncoder().encode(`{"email":"${ANN.normalised}"}\n`)
      const mine = ["exports/acme/crm/b1.ndjson", "connectors/x/acme/state.json"]
      const others = ["exports/globex/crm/b1.ndjson", "dsr/bundles/globex/k1/dsr_other.zip", "connectors/x/globex/state.json"]
      for (const key of [...mine, ...others]) yield* store.put(key, text)
      const r = yield* submitRequest(env, { tenant: TENANT, type: "erasure", identifier: `email:${ANN.email}` })
      expect(r.status, r.error).toBe("completed")
      for (const key of mine) expect(yield* getObject(key), key).toBeUndefined()
      for (const key of others) expect(yield* getObject(key), key).toBeDefined()
    }))
  })

  it("a person nobody holds gets a completed access request that says so", async () => {
    await withSample(dir, (env) => Effect.gen(function* () {
      const r = yield* submitRequest(env, { tenant: TENANT, type: "access", identifier: "email:nobody@nowhere.example" })
      expect(r.status, r.error).toBe("completed")
      expect(r.details["profiles"]).toBe(0)
      expect(r.done.filter((d) => d.what === "exported").every((d) => d.count === 0)).toBe(true)
    }))
  })
})
