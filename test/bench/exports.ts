// Export benchmark: profiles/s from the warehouse to the local replay servers (HubSpot, Salesforce, webhook) with 429s
// (Salesforce: 503s) injected on every 5th request, beside NDJSON files in the local object store as the ceiling of the same sync
// without HTTP, and HubSpot at its own default budget (10 requests/s). BENCH_EXPORT_PROFILES profiles (20,000) holding
// BENCH_EXPORT_EVENTS events (1,000,000: an identify each, the rest page views), inserted by INSERT ... SELECT FROM numbers(). Run by `npm run bench`; not part of the tests. Then a dry run of a
// backfill over BENCH_EXPORT_DRY_EVENTS events (1,000,000: 20 per profile, every 10th profile with an EmailMarketing
// signal, every 50th a refusal), where consent's filter is read over every profile; BENCH_EXPORT_ONLY=dry-run runs
// only that (before/after pairs of the filter).
import { loadavg } from "node:os"
import { join } from "node:path"
import { Effect, Layer, Logger } from "effect"
import { ConsentPoliciesRef, DEFAULT_POLICIES } from "../../consent/index.ts"
import { parseDestinations, syncDestination, type SyncReport } from "../../ingest/destinations/index.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { hubspotServer, salesforceServer, webhookServer } from "../support/crm-replay-servers.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const N = Number(process.env["BENCH_EXPORT_PROFILES"] ?? 20_000)
const DRY_EVENTS = Number(process.env["BENCH_EXPORT_DRY_EVENTS"] ?? 1_000_000)
const DRY_ONLY = process.env["BENCH_EXPORT_ONLY"] === "dry-run"
// Events the exported profiles hold in all (their identifies and page views): a sync reads them through the profiles.
const EVENTS = Math.max(N, Number(process.env["BENCH_EXPORT_EVENTS"] ?? 1_000_000))
const dataDir = freshDir("cdp-bench-exports-")
const layer = Layer.mergeAll(Warehouse.embedded(join(dataDir, "clickhouse")), ObjectStore.local(join(dataDir, "objects")))

const SEED = `
INSERT INTO event_rows (tenant, message_id, type, event, anonymous_id, user_id, profile_id, channel, source, timestamp,
  received_at, properties, traits, context, extra, identifiers)
SELECT 'bench', concat('exp-', toString(number)), 'identify', '', '', concat('u', toString(number)), concat('prof_exp', toString(number)),
  'web', 'segment', toDateTime64('2024-06-01 00:00:00', 3, 'UTC') + toIntervalSecond(number), now64(3), '{}',
  concat('{"email":"user', toString(number), '@bench.example","first_name":"First', toString(number), '","last_name":"Last', toString(number), '"}'),
  '{}', '{}', []
FROM numbers({n:UInt64})`

// Page views of the same profiles, EVENTS in all with their identifies, spread evenly over them.
const SEED_EVENTS = `
INSERT INTO event_rows (tenant, message_id, type, event, anonymous_id, user_id, profile_id, channel, source, timestamp,
  received_at, properties, traits, context, extra, identifiers)
SELECT 'bench', concat('exp-ev-', toString(number)), 'track', 'Page Viewed', '', concat('u', toString(number % {n:UInt64})),
  concat('prof_exp', toString(number % {n:UInt64})), 'web', 'segment', toDateTime64('2024-06-01 00:00:00', 3, 'UTC') + toIntervalSecond(number),
  now64(3), '{}', '{}', '{}', '{}', []
FROM numbers({m:UInt64})`

// EmailMarketing is a legitimate interest granted unless refused (the default policy): every profile may be sent.
const fields = { email: "trait:email", firstname: "trait:first_name", lastname: "trait:last_name" }
const SECRET = "whsec_bench_0123456789"

const line = (label: string, r: SyncReport) =>
  `${label.padEnd(48)} ${String(Math.round(r.upserted / (r.ms / 1000))).padStart(7)} profiles/s  (${r.upserted} in ${(r.ms / 1000).toFixed(1)} s, ` +
  `${r.requests} requests, ${r.retries} retries, ${r.deadLettered} dead-lettered)`

// Tenant bench-dry: DRY_EVENTS events of DRY_EVENTS / 20 profiles over 120 days, one identify with traits per profile.
const DRY_SEED = `
INSERT INTO event_rows (tenant, message_id, type, event, anonymous_id, user_id, profile_id, channel, source, timestamp,
  received_at, properties, traits, context, extra, identifiers)
SELECT 'bench-dry', concat('dry-', toString(number)), if(number < {p:UInt64}, 'identify', 'track'), if(number < {p:UInt64}, '', 'Page Viewed'), '',
  concat('u', toString(number % {p:UInt64})), concat('prof_dry', toString(number % {p:UInt64})), 'web', 'segment',
  now64(3) - toIntervalSecond(cityHash64(number) % 10368000), now64(3), '{}',
  if(number < {p:UInt64}, concat('{"email":"user', toString(number), '@bench.example","last_name":"Last', toString(number), '"}'), '{}'), '{}', '{}', []
FROM numbers({n:UInt64})`
const DRY_CONSENT = `
INSERT INTO consent_ledger (tenant, message_id, profile_id, purpose, state, basis, source, proof, device, timestamp, recorded_at)
SELECT 'bench-dry', concat('dry-', toString(p)), concat('prof_dry', toString(p)), 'EmailMarketing', s, 'legitimate_interest',
  'segment_preference_updated', concat('dry-', toString(p)), '', now64(3) - toIntervalDay(10), now64(3)
FROM (SELECT number * 10 AS p, if(number % 5 = 0, 'denied', 'granted') AS s FROM numbers(intDiv({p:UInt64} + 9, 10)))`

/** A dry run (what `cdp export dry-run --full` does) of an NDJSON destination over DRY_EVENTS events, three times. */
const dryRun = Effect.gen(function* () {
  const warehouse = yield* Warehouse
  const profiles = Math.max(1, Math.round(DRY_EVENTS / 20))
  yield* warehouse.command(DRY_SEED, { n: DRY_EVENTS, p: profiles })
  yield* warehouse.command(DRY_CONSENT, { p: profiles })
  const [config] = parseDestinations(JSON.stringify({ "bench-dry": [{ name: "files", type: "ndjson", purpose: "EmailMarketing", fields, batchSize: 1000 }] }))
  const times: Array<number> = []
  let planned = 0
  for (let i = 0; i < 3; i++) {
    const t = performance.now()
    const r = yield* syncDestination(config!, { full: true, dryRun: true })
    times.push(performance.now() - t)
    // Every record the sync would send (planned shows the first requests only: DRY_RUN_SHOWN).
    planned = (r.plannedTotals?.upsert ?? 0) + (r.plannedTotals?.remove ?? 0) + (r.plannedTotals?.erase ?? 0)
  }
  const sorted = [...times].sort((a, b) => a - b)
  process.stdout.write(`dry run of a backfill over ${DRY_EVENTS.toLocaleString("en")} events (${profiles.toLocaleString("en")} profiles): ` +
    `${Math.round(sorted[1]!)} ms median of 3 (${times.map((t) => Math.round(t)).join(", ")}), ${planned.toLocaleString("en")} records planned; ` +
    `load ${loadavg().map((l) => l.toFixed(1)).join(" ")}\n`)
})

const main = Effect.gen(function* () {
  if (DRY_ONLY) return yield* dryRun
  const warehouse = yield* Warehouse
  yield* warehouse.command(SEED, { n: N })
  if (EVENTS > N) yield* warehouse.command(SEED_EVENTS, { n: N, m: EVENTS - N })
  const hs = yield* Effect.promise(() => hubspotServer({ windowMs: 100 }))
  const sf = yield* Effect.promise(() => salesforceServer())
  const hook = yield* Effect.promise(() => webhookServer(SECRET))
  for (const s of [hs, sf, hook]) s.inject429Every = 5
  const crm = (name: string) => [
    { name: `hubspot${name}`, type: "hubspot", purpose: "EmailMarketing", token: "hs-token", url: hs.url, fields: { cdp_profile_id: "profile_id", ...fields }, ratePerSecond: 1000, burst: 50 },
    { name: `salesforce${name}`, type: "salesforce", purpose: "EmailMarketing", token: "sf-token", url: sf.url, fields: { Email: "trait:email", LastName: "trait:last_name" }, ratePerSecond: 1000, burst: 50 },
  ]
  const configs = parseDestinations(JSON.stringify({
    bench: [
      { name: "files", type: "ndjson", purpose: "EmailMarketing", fields, batchSize: 1000 },
      ...crm(""),
      { name: "webhook", type: "webhook", purpose: "EmailMarketing", url: hook.url, secret: SECRET, ratePerSecond: 1000, burst: 50, maxRetryAfterMs: 2000 },
      { name: "hubspot-budget", type: "hubspot", purpose: "EmailMarketing", token: "hs-token", url: hs.url, fields: { cdp_profile_id: "profile_id", ...fields } },
      // The same syncs with no 429 injected (the bucket as above): what our code and the replay server manage alone.
      ...crm("-clean"),
    ],
  }))
  process.stdout.write(`exports of ${N.toLocaleString("en")} profiles (${EVENTS.toLocaleString("en")} events), 429 on every 5th request (Salesforce: 503; Retry-After / X-HubSpot-RateLimit-*), one destination at a time, load ${loadavg().map((l) => l.toFixed(1)).join(" ")}:\n`)
  const files = yield* syncDestination(configs[0]!)
  process.stdout.write(`${line("ndjson files (ceiling: the same sync, no HTTP)", files)}\n`)
  const perSecond = (r: SyncReport) => r.upserted / (r.ms / 1000)
  // Where the time of a sync with 429s goes: waiting (the bucket paused by a 429's Retry-After or rate-limit window,
  // and backoff) is wall time minus the time the process was busy (our code and the replay servers share it).
  const measured = (config: (typeof configs)[number]) =>
    Effect.gen(function* () {
      const cpu = process.cpuUsage()
      const r = yield* syncDestination(config)
      const used = process.cpuUsage(cpu)
      return { r, cpuMs: (used.user + used.system) / 1000 }
    })
  for (const [i, label] of [[1, "hubspot (batch upsert, 100/request)"], [2, "salesforce (collections upsert, 200/request)"], [3, "webhook (signed, 500/request; Retry-After 1 s)"]] as const) {
    const { r, cpuMs } = yield* measured(configs[i]!)
    process.stdout.write(`${line(label, r)}  ${(perSecond(r) / perSecond(files)).toFixed(2)} of the ceiling; process busy ${Math.round(cpuMs)} ms of ${Math.round(r.ms)} ms wall\n`)
  }
  for (const s of [hs, sf]) s.inject429Every = 0
  for (const [i, label] of [[5, "hubspot, no 429 injected"], [6, "salesforce, no 429 injected"]] as const) {
    const { r, cpuMs } = yield* measured(configs[i]!)
    process.stdout.write(`${line(label, r)}  process busy ${Math.round(cpuMs)} ms of ${Math.round(r.ms)} ms wall\n`)
  }
  process.stdout.write(`the buckets' own ceiling at 1000 requests/s: hubspot 100,000, salesforce 200,000 profiles/s\n`)
  hs.contacts.clear()
  const budget = yield* syncDestination(configs[4]!)
  process.stdout.write(`${line("hubspot at its default budget (10 requests/s)", budget)}\n`)
  const dupes = [...hs.contacts.values()].filter((c) => c.created !== 1).length + [...hook.applied.values()].filter((n) => n !== 1).length
  process.stdout.write(`duplicates at the replay servers: ${dupes}\n`)
  for (const s of [hs, sf, hook]) yield* Effect.promise(() => s.close())
  yield* dryRun
})

await Effect.runPromise(main.pipe(Effect.provide(layer), Effect.provideService(ConsentPoliciesRef, DEFAULT_POLICIES), Effect.provide(Logger.layer([]))))
  .finally(() => removeDir(dataDir))
