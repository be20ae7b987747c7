// Profile read bench (issue 17): GET /v1/profiles/{identifier} (traits, computed traits, consent, identifiers, the
// last 50 events) on `cdp serve` with 1,000,000 events of one tenant: latency of first reads (nothing cached) and of
// repeated reads, reads/s with 16 requests in flight, the same while batches land (each drops the answers it
// reaches), a profile with 100,000 identifiers, and where an uncached read's time goes (each step in process). Run
// by `npm run bench`; BENCH_PROFILE_EVENTS and BENCH_PROFILE_READS (1,000 profiles: p99 is the 10th slowest) change
// the sizes; BENCH_SETTLE_S (45) waits that long after the documents are built, before the reads: the steady state,
// not the minute in which the engine still merges the parts of 49,001 new documents beside them (0 measures that).
// The events (with consent rows and merges as a ledger and identity hold them) are made in the engine
// (INSERT ... SELECT from numbers()), not ingested: this measures reads. BENCH_PROFILE_ONLY=breakdown runs only the
// in-process part (no cdp serve, no HTTP; the computed traits are defined in process); BENCH_PROFILE_SETTINGS
// ("a=1; b=0, c=2": each entry a SETTINGS clause) times whole reads with each appended to every statement of the read,
// interleaved with reads without, on other profiles.
import { readFileSync } from "node:fs"
import { availableParallelism, cpus, loadavg } from "node:os"
import { join } from "node:path"
import { Effect, Logger } from "effect"
import { ConsentPoliciesRef, consentOfScopeColumns, DEFAULT_POLICIES, showConsent, showConsentOfMessages } from "../../consent/index.ts"
import {
  buildProfileDocuments, defaultIdentityConfig, parseComputedTraits, profileIdOf, profileScopeOf, readIdentifier, readProfileView, readProfileViewOf, syncComputedTraits,
} from "../../identity/index.ts"
import { profileComputedTraits } from "../../identity/computed-traits.ts"
import { tenantDefinitions } from "../../warehouse/computed-traits.ts"
import { relationshipTraits } from "../../identity/relations/compute.ts"
import { readProfile, readProfileOfDocument } from "../../ingest/profile-read.ts"
import { readStoredDocument, storeDocuments } from "../../warehouse/profile-documents.ts"
import { profileIdentifierPage, profileReadScope, profileSummary, storageGeneration } from "../../warehouse/profiles.ts"
import { type QueryOptions, Warehouse, type WarehouseShape } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { KEY, messageLine, type Server, startServer } from "./http-load.ts"

const EVENTS = Number(process.env["BENCH_PROFILE_EVENTS"] ?? 1_000_000)
const PER_PROFILE = 20
const PROFILES = Math.ceil(EVENTS / PER_PROFILE)
const READS = Number(process.env["BENCH_PROFILE_READS"] ?? 1000)
const ONLY = process.env["BENCH_PROFILE_ONLY"]
if (ONLY !== undefined && ONLY !== "breakdown") throw new Error(`BENCH_PROFILE_ONLY must be "breakdown" (the in-process part alone), not ${JSON.stringify(ONLY)}`)
const SETTINGS = (process.env["BENCH_PROFILE_SETTINGS"] ?? "").split(";").map((x) => x.trim()).filter((x) => x !== "")
for (const clause of SETTINGS) {
  if (!/^\w+ ?= ?[\w.']+( ?, ?\w+ ?= ?[\w.']+)*$/.test(clause)) throw new Error(`BENCH_PROFILE_SETTINGS: ${JSON.stringify(clause)} is not a list of name = value`)
}
const CONCURRENCY = 16
/** Profiles whose documents are built per batch (two statements and one insert). */
const DOCUMENT_BATCH = Number(process.env["BENCH_DOCUMENT_BATCH"] ?? 500)
const SECONDS = 10
const COMPUTED = JSON.stringify({
  "*": [
    { name: "orders_30d", kind: "count", events: ["Order Completed"], windowDays: 30 },
    { name: "spend", kind: "sum", events: ["Order Completed"], of: "properties.total" },
    { name: "favourite_product", kind: "most_frequent", events: ["Order Completed"], of: "properties.product" },
    { name: "mood", kind: "latest_sentiment" },
  ],
})

const out = (line = "") => process.stdout.write(`${line}\n`)
const fmt = (n: number, digits = 0) => n.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits })
const percentile = (xs: ReadonlyArray<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN
}

/** PROFILES people of tenant default, PER_PROFILE events each over 90 days, with what a profile read looks at. */
const build = (dataDir: string) =>
  Effect.gen(function* () {
    const w = yield* Warehouse
    const t = performance.now()
    const p = `intDiv(number, ${PER_PROFILE})`
    yield* w.command(
      "INSERT INTO event_rows (tenant, message_id, type, event, user_id, profile_id, channel, source, timestamp, received_at, properties, traits, context, extra) " +
        `SELECT 'default', concat('m', toString(number)), if(number % 10 = 0, 'identify', 'track'), ` +
        "['Order Completed', 'Product Viewed', 'Page Viewed', 'Email Opened'][number % 4 + 1], " +
        `concat('u', toString(${p})), concat('prof_bench', leftPad(toString(${p}), 12, '0')), ` +
        "['web', 'email', 'chat', 'call'][number % 4 + 1], 'segment', now64(3) - toIntervalSecond(number % 7776000), now64(3), " +
        "concat('{\"total\":', toString(number % 97), ',\"product\":\"p', toString(number % 13), '\"}'), " +
        `if(number % 10 = 0, concat('{"email":"u', toString(${p}), '@x.example","plan":"p', toString(number % 3), '"}'), '{}'), '{}', '{}' ` +
        `FROM numbers(${EVENTS})`)
    yield* w.command(
      "INSERT INTO identity_observations (tenant, message_id, timestamp, sightings, refused) " +
        `SELECT 'default', concat('m', toString(number)), now64(3) - toIntervalSecond(number % 7776000), ` +
        `if(number % 10 = 0, [('user_id', concat('u', toString(${p})), concat('u', toString(${p})), 'verified'), ` +
        `('email', concat('u', toString(${p}), '@x.example'), concat('u', toString(${p}), '@x.example'), 'stated')], ` +
        `[('user_id', concat('u', toString(${p})), concat('u', toString(${p})), 'verified')]), [] FROM numbers(${EVENTS})`)
    yield* w.command(
      "INSERT INTO identity_nodes (tenant, kind, value, slice, profile_id, shared, version) " +
        "SELECT 'default', k, if(k = 'user_id', concat('u', toString(number)), concat('u', toString(number), '@x.example')), 0, " +
        `concat('prof_bench', leftPad(toString(number), 12, '0')), '', 1 FROM numbers(${PROFILES}) ARRAY JOIN ['user_id', 'email'] AS k`)
    yield* w.command(
      "INSERT INTO sentiment (tenant, message_id, profile_id, channel, source, timestamp, scored_at, status, reason, language, score, label, model_version, evidence, aspects) " +
        `SELECT 'default', concat('m', toString(number)), concat('prof_bench', leftPad(toString(${p}), 12, '0')), 'chat', 'chat', ` +
        "now64(3) - toIntervalSecond(number % 7776000), now64(3), 'scored', '', 'en', (number % 11 - 5) / 5, " +
        `['negative', 'neutral', 'positive'][number % 3 + 1], 'bench', '', [] FROM numbers(${EVENTS}) WHERE number % 5 = 2`)
    // One person with 100,000 identifiers (device ids), on 100 messages of their own.
    yield* w.command(
      "INSERT INTO event_rows (tenant, message_id, type, event, user_id, profile_id, channel, source, timestamp, received_at, properties, traits, context, extra) " +
        "SELECT 'default', concat('big', toString(number)), 'track', 'Seen', 'ubig', 'prof_benchbig0000000', 'web', 'segment', now64(3) - toIntervalMinute(number), now64(3), '{}', '{}', '{}', '{}' FROM numbers(100)")
    yield* w.command(
      "INSERT INTO identity_observations (tenant, message_id, timestamp, sightings, refused) SELECT 'default', concat('big', toString(number)), now64(3), " +
        "arrayMap(i -> ('device_id', concat('d', toString(number * 1000 + i)), concat('d', toString(number * 1000 + i)), 'verified'), range(1000)), [] FROM numbers(100)")
    yield* w.command("INSERT INTO identity_nodes (tenant, kind, value, slice, profile_id, shared, version) VALUES ('default', 'user_id', 'ubig', 0, 'prof_benchbig0000000', '', 1)")
    // Consent as a ledger holds it: everyone granted Analytics on their first identify, every third refused Marketing
    // later, every hundredth objected through a request (a row whose message id is no message).
    const ledger = "INSERT INTO consent_ledger (tenant, message_id, profile_id, purpose, state, basis, source, proof, device, timestamp, recorded_at) SELECT 'default', "
    const person = "concat('prof_bench', leftPad(toString(number), 12, '0'))"
    yield* w.command(`${ledger}concat('m', toString(number * ${PER_PROFILE})), ${person}, 'Analytics', 'granted', 'consent', 'segment', '{}', '', ` +
      `now64(3) - toIntervalSecond((number * ${PER_PROFILE}) % 7776000), now64(3) FROM numbers(${PROFILES})`)
    yield* w.command(`${ledger}concat('m', toString(number * ${PER_PROFILE} + 10)), ${person}, 'Marketing', 'denied', 'consent', 'segment', '{}', '', ` +
      `now64(3) - toIntervalSecond((number * ${PER_PROFILE} + 10) % 7776000), now64(3) FROM numbers(${PROFILES}) WHERE number % 3 = 0`)
    yield* w.command(`${ledger}concat('dsr-', toString(number)), ${person}, 'Marketing', 'denied', 'consent', 'dsr', '{}', '', now64(3), now64(3) ` +
      `FROM numbers(${PROFILES}) WHERE number % 100 = 0`)
    // Merges: every 50th person (number % 50 = 1) turned out to be the one before: their messages and identifiers move there.
    yield* w.command("INSERT INTO event_profiles (tenant, message_id, profile_id, version) " +
      `SELECT 'default', concat('m', toString(number)), concat('prof_bench', leftPad(toString(${p} - 1), 12, '0')), 1 FROM numbers(${EVENTS}) WHERE ${p} % 50 = 1`)
    yield* w.command("INSERT INTO profile_merges (tenant, from_profile, to_profile, kind, messages, reason, at) " +
      `SELECT 'default', ${person}, concat('prof_bench', leftPad(toString(number - 1), 12, '0')), 'merge', ${PER_PROFILE}, 'bench', now64(3) ` +
      `FROM numbers(${PROFILES}) WHERE number % 50 = 1`)
    yield* w.command("INSERT INTO identity_nodes (tenant, kind, value, slice, profile_id, shared, version) " +
      "SELECT 'default', k, if(k = 'user_id', concat('u', toString(number)), concat('u', toString(number), '@x.example')), 0, " +
      `concat('prof_bench', leftPad(toString(number - 1), 12, '0')), '', 2 FROM numbers(${PROFILES}) ARRAY JOIN ['user_id', 'email'] AS k WHERE number % 50 = 1`)
    return (performance.now() - t) / 1000
  }).pipe(Effect.scoped, Effect.provide(Warehouse.embedded(join(dataDir, "clickhouse"))), Effect.provide(Logger.layer([])))

/**
 * Where an uncached read's time goes, in process (no HTTP): each query of the read alone, one profile after another
 * (p50 over `ids`), against the cost of any call into the engine (SELECT 1) and of reading the part catalogue.
 */
const breakdown = (dataDir: string, ids: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const w = yield* Warehouse
    const identity = defaultIdentityConfig()
    const rows: Array<readonly [string, string]> = []
    const time = <A, E, R>(name: string, f: (id: string) => Effect.Effect<A, E, R>) =>
      Effect.gen(function* () {
        const ms: Array<number> = []
        for (const id of ids) {
          const t = performance.now()
          yield* f(id)
          ms.push(performance.now() - t)
        }
        rows.push([name, percentile(ms, 0.5).toFixed(2)])
      })
    const profileOf = (id: string) => Effect.flatMap(readIdentifier(id, "default", identity), (ref) => profileIdOf("default", ref))
    const scopes = new Map<string, Effect.Success<ReturnType<typeof profileReadScope>>>()
    const profiles = new Map<string, string>()
    for (const id of ids) {
      const p = yield* profileOf(id)
      profiles.set(id, p)
      scopes.set(id, yield* profileReadScope("default", p))
    }
    yield* time("SELECT 1 (any call into the engine)", () => w.query("SELECT 1"))
    yield* time("part catalogue (storage generation)", () => storageGeneration())
    yield* time("identifier -> profile alone (identity_nodes; not a step of the read any more)", profileOf)
    yield* time("read scope by profile id (message ids, landing profiles)", (id) => profileReadScope("default", profiles.get(id)!))
    yield* time("identifier -> profile and read scope, one statement (the read's first step)",
      (id) => Effect.flatMap(readIdentifier(id, "default", identity), (ref) => profileScopeOf("default", ref)))
    yield* time("summary alone (channels, traits, merges, sentiment, last 50 events)", (id) => profileSummary(scopes.get(id)!, 50))
    yield* time("summary grouped by the engine (as for profiles over 2,000 messages)", (id) => profileSummary(scopes.get(id)!, 50, -1))
    yield* time("identifiers page alone", (id) => profileIdentifierPage(scopes.get(id)!, 100, undefined))
    yield* time("computed traits definitions", () => tenantDefinitions("default"))
    yield* time("computed traits alone", (id) => profileComputedTraits(scopes.get(id)!))
    yield* time("relationship", (id) => relationshipTraits("default", profiles.get(id)!))
    yield* time("consent by profile id alone (cdp consent show; not a step of the read any more)", (id) => showConsent("default", { _tag: "profile", profileId: profiles.get(id)! }))
    yield* time("consent of the scope's messages alone", (id) => showConsentOfMessages(scopes.get(id)!))
    yield* time("the read's second statement: summary, identifiers page, computed traits and consent in one (with relationship beside it)",
      (id) => Effect.flatMap(Effect.succeed(consentOfScopeColumns(scopes.get(id)!)), (consent) =>
        Effect.flatMap(readProfileViewOf(scopes.get(id)!, { recent: 50, also: consent }), (r) => consent.view(r.also))))
    yield* time("profile view (scope, then the summary statement and relationship)", (id) => readProfileView("default", { _tag: "profile", profileId: profiles.get(id)! }, { recent: 50 }))
    let body = ""
    yield* time("whole read in process", (id) => Effect.map(readProfile("default", id, 50, identity), (b) => { body = JSON.stringify(b) }))
    const json = JSON.parse(body) as unknown
    // Profile documents (migration 083) of every person, built as the keeper builds them: DOCUMENT_BATCH profiles a
    // batch (two statements each) and one insert per batch. Then reads answered from them.
    const everyone = (yield* w.query<{ p: string }>("SELECT DISTINCT profile_id AS p FROM event_rows WHERE tenant = 'default'")).map((r) => r.p)
    const b0 = performance.now()
    let documents = 0
    const batchMs: Array<number> = []
    for (let i = 0; i < everyone.length; i += DOCUMENT_BATCH) {
      const t0 = performance.now()
      const built = yield* buildProfileDocuments("default", everyone.slice(i, i + DOCUMENT_BATCH), Date.now())
      yield* storeDocuments("default", built.documents)
      documents += built.documents.length
      batchMs.push(performance.now() - t0)
    }
    const buildMs = performance.now() - b0
    rows.push([`documents of all ${fmt(everyone.length)} profiles built and stored, ${DOCUMENT_BATCH} a batch (${fmt(documents)} documents; ms per profile; ` +
      `a batch p50 ${percentile(batchMs, 0.5).toFixed(0)} ms)`, (buildMs / everyone.length).toFixed(3)])
    const one = yield* Effect.map(Effect.all(ids.slice(0, 10).map((id) => Effect.gen(function* () {
      const t0 = performance.now()
      const built = yield* buildProfileDocuments("default", [profiles.get(id)!], Date.now())
      yield* storeDocuments("default", built.documents)
      return performance.now() - t0
    }))), (ms) => percentile(ms, 0.5))
    rows.push(["document of one profile built and stored alone (ms)", one.toFixed(2)])
    const twenty: Array<number> = []
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now()
      const built = yield* buildProfileDocuments("default", everyone.slice(i * 20, i * 20 + 20), Date.now())
      yield* storeDocuments("default", built.documents)
      twenty.push(performance.now() - t0)
    }
    rows.push(["documents of 20 profiles built and stored (what a landing of 20 people's messages costs; ms per batch, p50 of 10)", percentile(twenty, 0.5).toFixed(2)])
    yield* time("stored document by profile id (one point read)", (id) => readStoredDocument("default", { profileId: profiles.get(id)! }))
    yield* time("stored document by identifier (its owner looked up in the same statement)", (id) =>
      Effect.flatMap(readIdentifier(id, "default", identity), (ref) => readStoredDocument("default", ref._tag === "profile" ? ref : { kind: ref.kind, value: ref.value })))
    const fromDocument: Array<number> = []
    let same = 0
    for (const id of ids) {
      const exact = JSON.stringify(yield* readProfile("default", id, 50, identity))
      for (let k = 0; k < 5; k++) {
        const t0 = performance.now()
        const answer = yield* readProfileOfDocument("default", id, 50, identity, () => true)
        fromDocument.push(performance.now() - t0)
        if (JSON.stringify(answer) === exact) same++
      }
    }
    rows.push([`whole read from the profile's document (in process; p50 / p99 of ${fromDocument.length}; ${same} of them the same answer as the read)`,
      `${percentile(fromDocument, 0.5).toFixed(2)} / ${percentile(fromDocument, 0.99).toFixed(2)}`])
    const t = performance.now()
    for (let i = 0; i < 100; i++) JSON.stringify(structuredClone(json))
    rows.push(["copy and JSON of one answer", ((performance.now() - t) / 100).toFixed(2)])
    rows.push(...yield* engineAccount(w, ids, identity))
    return rows
  }).pipe(
    Effect.provideService(ConsentPoliciesRef, DEFAULT_POLICIES),
    Effect.scoped, Effect.provide(Warehouse.embedded(join(dataDir, "clickhouse"))), Effect.provide(Logger.layer([])),
  )

/** A tenant no row belongs to: the read's statements for it read nothing. */
const NO_ROWS_TENANT = "bench-no-rows"

// The engine's counters (system.events) that say where a statement's time goes.
const COUNTERS = [
  ["QueryParseMicroseconds", "parsing"], ["QueryAnalysisMicroseconds", "analysis (runs the scalar subqueries, most sub-reads: the rows below overlap it)"],
  ["QueryPlanBuildMicroseconds", "building plans"], ["QueryPlanOptimizeMicroseconds", "optimising plans (index analysis included)"],
  ["QueryPipelineBuildMicroseconds", "building pipelines"], ["OSCPUVirtualTimeMicroseconds", "CPU of the engine's threads"],
] as const

/**
 * The engine's own account of whole uncached reads (system.events before and after each, less what reading it twice
 * adds by itself), and the same reads' statements run again for a tenant with no rows (same SQL and parameters,
 * nothing to read: what their shape costs). With BENCH_PROFILE_SETTINGS, whole reads with each clause appended to
 * every statement, against reads without, alternating on the same profiles; the answers must be the same.
 */
const engineAccount = (w: WarehouseShape, ids: ReadonlyArray<string>, identity: ReturnType<typeof defaultIdentityConfig>) =>
  Effect.gen(function* () {
    const rows: Array<readonly [string, string]> = []
    const recorder: { log: Array<{ sql: string; options: QueryOptions | undefined }> | undefined; suffix: string } = { log: undefined, suffix: "" }
    const recording: WarehouseShape = {
      ...w,
      query: <T>(sql: string, options?: QueryOptions) => {
        const q = recorder.suffix === "" ? sql : `${sql} SETTINGS ${recorder.suffix}`
        recorder.log?.push({ sql: q, options })
        return w.query<T>(q, options)
      },
    }
    const read = (id: string) => Effect.provideService(readProfile("default", id, 50, identity), Warehouse, recording)
    const counters = Effect.map(w.query<{ name: string; value: string }>("SELECT name, value FROM system.events"),
      (rs) => new Map(rs.map((r) => [r.name, Number(r.value)])))
    const delta = (a: Map<string, number>, b: Map<string, number>, name: string) => (b.get(name) ?? 0) - (a.get(name) ?? 0)
    const cpuSince = (c0: NodeJS.CpuUsage) => {
      const c = process.cpuUsage(c0)
      return (c.user + c.system) / 1000
    }
    const idle = new Map<string, Array<number>>()
    const used = new Map<string, Array<number>>()
    const add = (m: Map<string, Array<number>>, k: string, v: number) => m.set(k, [...(m.get(k) ?? []), v])
    const cpu: Array<number> = []
    const floor: Array<number> = []
    const floorCpu: Array<number> = []
    for (const id of ids) {
      const i0 = yield* counters
      const i1 = yield* counters
      const a = yield* counters
      recorder.log = []
      const c0 = process.cpuUsage()
      yield* read(id)
      cpu.push(cpuSince(c0))
      const b = yield* counters
      const statements = recorder.log
      recorder.log = undefined
      for (const name of [...COUNTERS.map(([n]) => n), "SelectedParts", "SelectedRows"]) {
        add(idle, name, delta(i0, i1, name))
        add(used, name, delta(a, b, name))
      }
      const t = performance.now()
      const f0 = process.cpuUsage()
      for (const { sql, options } of statements) yield* w.query(sql, { ...options, params: { ...options?.params, tenant: NO_ROWS_TENANT } })
      floor.push(performance.now() - t)
      floorCpu.push(cpuSince(f0))
    }
    const net = (name: string) => percentile(used.get(name)!, 0.5) - percentile(idle.get(name)!, 0.5)
    rows.push(["whole read: CPU of this process (every thread: the engine's and JavaScript's)", percentile(cpu, 0.5).toFixed(2)])
    for (const [name, what] of COUNTERS) rows.push([`whole read, the engine's own account: ${what}`, (net(name) / 1000).toFixed(2)])
    rows.push(["whole read: parts the engine read from / rows it read (counts)", `${fmt(net("SelectedParts"))} / ${fmt(net("SelectedRows"))}`])
    rows.push(["the same statements for a tenant with no rows (nothing read: their shape alone); wall / CPU",
      `${percentile(floor, 0.5).toFixed(2)} / ${percentile(floorCpu, 0.5).toFixed(2)}`])
    for (const clause of SETTINGS) {
      const plain: Array<number> = [], plainCpu: Array<number> = [], set: Array<number> = [], setCpu: Array<number> = []
      let differs = 0
      for (const [k, id] of ids.entries()) {
        const answers: Array<string> = []
        for (const suffix of k % 2 === 0 ? ["", clause] : [clause, ""]) {
          recorder.suffix = suffix
          const t = performance.now()
          const c0 = process.cpuUsage()
          const body = yield* read(id)
          ;(suffix === "" ? plain : set).push(performance.now() - t)
          ;(suffix === "" ? plainCpu : setCpu).push(cpuSince(c0))
          answers.push(JSON.stringify(body))
        }
        recorder.suffix = ""
        if (answers[0] !== answers[1]) differs++
      }
      rows.push([`whole read, SETTINGS ${clause}, against none (alternating); wall / CPU${differs > 0 ? `; ${differs} ANSWERS DIFFER` : ""}`,
        `${percentile(set, 0.5).toFixed(2)} / ${percentile(setCpu, 0.5).toFixed(2)} against ${percentile(plain, 0.5).toFixed(2)} / ${percentile(plainCpu, 0.5).toFixed(2)}`])
    }
    return rows
  })

/** Active parts of the tables a profile read takes rows from (each part is read apart). */
const partsRead = (dataDir: string) =>
  Effect.gen(function* () {
    const w = yield* Warehouse
    const rows = yield* w.query<{ table: string; n: string }>(
      "SELECT table, count() AS n FROM system.parts WHERE active AND database = currentDatabase() AND table IN ('event_rows', 'event_profiles', " +
        "'identity_nodes', 'identity_observations', 'consent_ledger', 'sentiment', 'profile_merges', 'computed_trait_states') GROUP BY table ORDER BY table")
    return rows.map((r) => `${r.table} ${r.n}`).join(", ")
  }).pipe(Effect.scoped, Effect.provide(Warehouse.embedded(join(dataDir, "clickhouse"))), Effect.provide(Logger.layer([])))

/** The computed traits defined (and backfilled) in this process, as `cdp serve` does at start with CDP_COMPUTED_TRAITS. */
const defineComputedTraits = (dataDir: string) =>
  syncComputedTraits(parseComputedTraits(COMPUTED)).pipe(
    Effect.scoped, Effect.provide(Warehouse.embedded(join(dataDir, "clickhouse"))), Effect.provide(Logger.layer([])))

const reader = (server: Server, token: string) => async (identifier: string, query = "") => {
  const t = performance.now()
  const res = await fetch(`${server.url}/v1/profiles/${encodeURIComponent(identifier)}?events=50${query}`, { headers: { authorization: `Bearer ${token}` } })
  const body = (await res.json()) as { identifiers?: Array<unknown>; identifierCount?: number; computedTraits?: Record<string, unknown> }
  return { ms: performance.now() - t, status: res.status, body }
}

/**
 * Waits until cdp serve's stored documents stop growing (every profile's built: the same count three polls running,
 * 6 s, as one batch may take over 2 s on a loaded machine); how many, in how long.
 */
const documentsBuilt = async (server: Server, token: string) => {
  const t = performance.now()
  const cpu0 = server.cpuSeconds()
  let last = -1
  let same = 0
  for (;;) {
    await new Promise((r) => setTimeout(r, 2000))
    const res = await fetch(`${server.url}/v1/query`, {
      method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ sql: "SELECT count() AS n FROM profile_documents FINAL", tenant: "default" }),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`counting documents: HTTP ${res.status} ${text}`)
    const n = Number((/"n":"?(\d+)/.exec(text) ?? [])[1] ?? 0)
    same = n > 0 && n === last ? same + 1 : 0
    if (same === 3) return { n, seconds: (performance.now() - t) / 1000 - 6, cpu: server.cpuSeconds() - cpu0 }
    last = n
  }
}

const sequential = async (read: ReturnType<typeof reader>, ids: ReadonlyArray<string>) => {
  const ms: Array<number> = []
  const statuses = new Set<number>()
  for (const id of ids) {
    const r = await read(id)
    statuses.add(r.status)
    ms.push(r.ms)
  }
  return { p50: percentile(ms, 0.5), p99: percentile(ms, 0.99), statuses: [...statuses].join(",") }
}

/** Reads for SECONDS with CONCURRENCY in flight over `ids`; `land` posts a small batch every 100 ms meanwhile. */
let batches = 0

let refusals = 0

/**
 * Posts the n-th 20-message batch of new people to the collector, again after a 503 (as a sender does: the pipeline
 * did not take it in time); the time in ms until it was accepted. Any other refusal fails the bench.
 */
const land = async (server: Server, n: number) => {
  const t = performance.now()
  const batch = Array.from({ length: 20 }, (_, k) => messageLine(1_000_000 + n * 20 + k)).join(",")
  for (;;) {
    const res = await fetch(`${server.url}/v1/batch`, {
      method: "POST", headers: { authorization: `Basic ${Buffer.from(`${KEY}:`).toString("base64")}`, "content-type": "application/json" },
      body: `{"batch":[${batch}]}`,
    })
    if (res.ok) return performance.now() - t
    if (res.status !== 503) throw new Error(`batch refused: HTTP ${res.status} ${await res.text()}`)
    refusals++
    await res.arrayBuffer()
    await new Promise((r) => setTimeout(r, 200))
  }
}

const throughput = async (server: Server, read: ReturnType<typeof reader>, ids: ReadonlyArray<string>, landing: boolean) => {
  const ms: Array<number> = []
  const statuses = new Set<number>()
  const end = performance.now() + SECONDS * 1000
  const cpu0 = server.cpuSeconds()
  let i = 0
  let landed = 0
  const worker = async () => {
    while (performance.now() < end) {
      const r = await read(ids[i++ % ids.length]!)
      statuses.add(r.status)
      ms.push(r.ms)
    }
  }
  const lander = async () => {
    while (landing && performance.now() < end) {
      await land(server, ++batches)
      landed++
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  await Promise.all([...Array.from({ length: CONCURRENCY }, worker), lander()])
  return {
    reads: ms.length, perSecond: ms.length / SECONDS, p50: percentile(ms, 0.5), p99: percentile(ms, 0.99), statuses: [...statuses].join(","),
    serverCpu: server.cpuSeconds() - cpu0, landed,
  }
}

out(`profile read benchmark: ${availableParallelism()} cores (${cpus()[0]?.model ?? "?"}), Node ${process.versions.node}, load average ${loadavg()[0]!.toFixed(1)} at start`)
const dir = freshDir("cdp-bench-profiles-")
const dataDir = join(dir, "data")
try {
  const built = await Effect.runPromise(build(dataDir))
  out(`${fmt(EVENTS)} events of ${fmt(PROFILES)} people (${PER_PROFILE} each, traits on every 10th, sentiment on every 5th; 1-3 consent rows each; every 50th merged into another) ` +
    `and one person with 100,000 identifiers, made in ${built.toFixed(1)} s`)
  if (ONLY === "breakdown") {
    const started = performance.now()
    await Effect.runPromise(defineComputedTraits(dataDir))
    out(`4 computed traits defined and backfilled in process in ${((performance.now() - started) / 1000).toFixed(1)} s (no cdp serve: BENCH_PROFILE_ONLY=breakdown)`)
  } else await httpReads(dataDir)
  const parts = await Effect.runPromise(partsRead(dataDir))
  const steps = await Effect.runPromise(breakdown(dataDir, Array.from({ length: 40 }, (_, k) => `user_id:u${Math.floor((k * 104_729 + 13) % PROFILES)}`)))
  out(`\nwhere an uncached read's time goes (in process, no HTTP; p50 of 40 profiles, each step alone; load average ${loadavg()[0]!.toFixed(1)}; active parts: ${parts}):`)
  out("| step | p50 ms |\n|---|---:|")
  for (const [name, ms] of steps) out(`| ${name} | ${ms} |`)
} finally {
  removeDir(dir)
}

async function httpReads(dataDir: string) {
  const started = performance.now()
  const server = await startServer(dataDir, { CDP_COMPUTED_TRAITS: COMPUTED })
  out(`cdp serve ready in ${((performance.now() - started) / 1000).toFixed(1)} s (includes backfilling 4 computed traits over ${fmt(EVENTS)} events)`)
  try {
    const read = reader(server, readFileSync(join(dataDir, "admin-token"), "utf8").trim())
    const ids = Array.from({ length: READS }, (_, k) => `user_id:u${Math.floor((k * 7919) % PROFILES)}`)
    for (const id of ids.slice(0, 5)) await read(`${id}0`) // warm-up on other people
    // The first profile read starts the server's profile documents (ingest/profile-documents.ts): every profile's is
    // built once; until then reads are answered as before. Waited for here, so the first reads below are uncached
    // reads answered from documents.
    const documents = await documentsBuilt(server, readFileSync(join(dataDir, "admin-token"), "utf8").trim())
    out(`profile documents of ${fmt(documents.n)} profiles built by cdp serve in ${documents.seconds.toFixed(1)} s (server CPU ${documents.cpu.toFixed(1)} s)`)
    // The engine merges the documents' parts for a while after they are built (CPU beside the reads): BENCH_SETTLE_S
    // waits that long first, for reads in a steady state.
    const settle = Number(process.env["BENCH_SETTLE_S"] ?? 45)
    if (!(settle >= 0)) throw new Error(`BENCH_SETTLE_S must be a number of seconds, not ${JSON.stringify(process.env["BENCH_SETTLE_S"])}`)
    if (settle > 0) {
      await new Promise((r) => setTimeout(r, settle * 1000))
      out(`(then ${settle} s without requests, BENCH_SETTLE_S, while the engine merges the documents' parts)`)
    }
    const first = await read(ids[0]!)
    if (Object.keys(first.body.computedTraits ?? {}).length !== 4) throw new Error(`computed traits missing: ${JSON.stringify(first.body).slice(0, 300)}`)
    out(`\n| reads (GET /v1/profiles/{id}?events=50) | n | statuses | p50 ms | p99 ms | reads/s | server CPU s |\n|---|---:|---|---:|---:|---:|---:|`)
    const cold = await sequential(read, ids.slice(1))
    out(`| first read of each profile (not cached), one at a time | ${ids.length - 1} | ${cold.statuses} | ${cold.p50.toFixed(1)} | ${cold.p99.toFixed(1)} | ${fmt(1000 / cold.p50)} (1/p50) | |`)
    const warm = await sequential(read, ids)
    out(`| same profiles again (cached), one at a time | ${ids.length} | ${warm.statuses} | ${warm.p50.toFixed(1)} | ${warm.p99.toFixed(1)} | ${fmt(1000 / warm.p50)} (1/p50) | |`)
    const busy = await throughput(server, read, ids, false)
    out(`| ${CONCURRENCY} in flight for ${SECONDS} s over the ${ids.length} profiles | ${fmt(busy.reads)} | ${busy.statuses} | ${busy.p50.toFixed(1)} | ${busy.p99.toFixed(1)} | ${fmt(busy.perSecond)} | ${busy.serverCpu.toFixed(1)} |`)
    // The first batch after start-up pays one-time costs (the identity graph is read from the stored observations):
    // landed and timed apart, so the row below measures reads beside steady landing.
    const firstBatch = await land(server, 0)
    out(`| (first batch after start-up, landed before the row below: accepted after ${firstBatch.toFixed(0)} ms, ${refusals} answers 503 before) | | | | | | |`)
    refusals = 0
    const landing = await throughput(server, read, ids, true)
    out(`| the same while a 20-message batch lands every 100 ms (${landing.landed} batches of new people accepted, ${refusals} answers 503 retried; each drops only the answers it reaches) | ${fmt(landing.reads)} | ${landing.statuses} | ${landing.p50.toFixed(1)} | ${landing.p99.toFixed(1)} | ${fmt(landing.perSecond)} | ${landing.serverCpu.toFixed(1)} |`)
    const big = await read("user_id:ubig")
    const bigAgain = await read("user_id:ubig")
    out(`\nprofile with 100,000 identifiers: HTTP ${big.status} in ${big.ms.toFixed(0)} ms (not cached; ${big.body.identifiers?.length} identifiers shown of ` +
      `identifierCount ${fmt(big.body.identifierCount ?? 0)}), ${bigAgain.ms.toFixed(1)} ms cached`)
    out(`load average ${loadavg()[0]!.toFixed(1)} at the end (2 cores shared with other work: figures drift with it)`)
  } finally {
    await server.stop()
  }
}
