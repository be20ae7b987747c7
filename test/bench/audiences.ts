// Audience benchmark (issue 17): evaluating a three-condition audience (a trait, an event count in a window, a channel
// in a window; purpose EmailMarketing) over about a million events, against a ceiling measured in the same run (one
// GROUP BY profile scan of the same events); one audience per kind of leaf that reads a store of its own (relations
// scores, sentiment); a refresh of the profiles a batch touched; and the entry and exit latency after an event lands
// while the refresher runs as in `cdp serve`: from the landed batch to the change recorded in audience_changes.
// Run by `npm run bench`; BENCH_AUDIENCE_EVENTS sets the number of events (1,000,000). Every 10th profile has an
// EmailMarketing signal: a grant, or for every 50th a refusal (what the consent filter reads). BENCH_AUDIENCE_ONLY=consent measures
// only what consent's filter costs (the three-condition preview, the 100-profile refresh and the consent listing), for before/after pairs.
import { loadavg } from "node:os"
import { join } from "node:path"
import { Effect, Fiber, Logger } from "effect"
import { backendConfig, pipelineLayer } from "../../cli/layers.ts"
import { consentingProfiles } from "../../consent/index.ts"
import { createAudience, keepAudiencesCurrent, parseCondition, type Node, previewAudience, refreshAudiences, refreshAudiencesFor } from "../../identity/audiences/index.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { eventRow } from "../../warehouse/sink.ts"
import { type Row, Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const TARGET_EVENTS = Number(process.env["BENCH_AUDIENCE_EVENTS"] ?? 1_000_000)
const CONSENT_ONLY = process.env["BENCH_AUDIENCE_ONLY"] === "consent"
const PROFILES = Math.max(1, Math.round(TARGET_EVENTS / 20))
const TENANT = "default"
const BATCH = 100_000
const DAY = 86_400_000

const fmt = (n: number, digits = 0) => n.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits })
const out = (line = "") => process.stdout.write(`${line}\n`)

const base: CanonicalEvent = {
  tenant: TENANT, messageId: "", type: "track", event: "", anonymousId: "", userId: "", groupId: "", previousId: "", channel: "web",
  source: "segment", timestamp: "", originalTimestamp: null, sentAt: null, receivedAt: new Date().toISOString(), properties: {}, traits: {},
  context: {}, extra: {}, identifiers: [], text: "", profileId: "",
}

/** Seeded pseudo-random numbers, so every run lands the same events. */
const random = (() => {
  let s = 42
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648
    return s / 2_147_483_648
  }
})()

const CHANNELS = [["web", "Page Viewed"], ["web", "Order Completed"], ["email", "Email Opened"], ["chat", "Chat Message"], ["call", "Call Completed"]] as const

function* rows(now: number): Generator<Row> {
  let n = 0
  for (let p = 0; n < TARGET_EVENTS; p = (p + 1) % PROFILES) {
    const user = `bench-user-${p}`
    const profileId = `prof_bench_${p}`
    if (n < PROFILES) {
      const plan = ["pro", "free", "trial"][p % 3]!
      yield eventRow({ ...base, messageId: `id-${p}`, type: "identify", userId: user, profileId, timestamp: new Date(now - 200 * DAY).toISOString(), traits: { plan, age: 18 + (p % 60) } })
    } else {
      const [channel, event] = CHANNELS[Math.floor(random() * CHANNELS.length)]!
      yield eventRow({ ...base, messageId: `ev-${n}`, userId: user, profileId, channel, event, timestamp: new Date(now - Math.floor(random() * 120 * DAY)).toISOString() })
    }
    n++
  }
}

const CONDITION = { and: [
  { trait: "plan", equals: "pro" },
  { event: "Order Completed", count: { op: ">=", value: 2 }, withinDays: 30 },
  { channel: "email", withinDays: 60 },
] }

const LEAVES = [
  ["relationship in [at_risk, detractor]", { relationship: { in: ["at_risk", "detractor"] } }],
  ["health < 40", { health: { op: "<", value: 40 } }],
  ["churn risk >= 0.7", { churnRisk: { op: ">=", value: 0.7 } }],
  ["latest sentiment < -0.5", { sentiment: { of: "latest", op: "<", value: -0.5 } }],
  ["average sentiment in 30 days < -0.3", { sentiment: { of: "average", withinDays: 30, op: "<", value: -0.3 } }],
] as const

const THREE: Node = (() => {
  const c = parseCondition(CONDITION)
  if ("reason" in c) throw new Error(c.message)
  return c
})()

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const t = performance.now()
    const value = yield* effect
    return { value, ms: performance.now() - t }
  })

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

// The consent ledger's list form (consentingProfiles, as consent listings use it) for a purpose granted unless refused:
// every profile with events but the refused and restricted ones.
const consentListing = Effect.gen(function* () {
  const times: Array<number> = []
  let profiles = 0
  for (let i = 0; i < 3; i++) {
    const r = yield* timed(consentingProfiles(TENANT, "EmailMarketing"))
    times.push(r.ms)
    profiles = r.value.length
  }
  out(`  consent listing of a purpose granted unless refused (EmailMarketing): ${fmt(median(times))} ms median of 3 (${fmt(profiles)} profiles)`)
})

// What a landed batch costs the refresher now: the audience re-evaluated for the profiles it touched only.
const refreshPartial = Effect.gen(function* () {
  const touched = new Map([[TENANT, new Set(Array.from({ length: 100 }, (_, i) => `prof_bench_${i * 7}`))]])
  const partial: Array<number> = []
  for (let i = 0; i < 3; i++) partial.push((yield* timed(refreshAudiencesFor(touched))).ms)
  out(`  refresh of the profiles a batch touched (100 profiles): ${fmt(median(partial))} ms median of 3`)
})

const main = Effect.gen(function* () {
  const warehouse = yield* Warehouse
  const pipeline = yield* Pipeline
  const now = Date.now()
  let batch: Array<Row> = []
  for (const r of rows(now)) {
    batch.push(r)
    if (batch.length === BATCH) {
      yield* warehouse.insert("event_rows", batch)
      batch = []
    }
  }
  if (batch.length > 0) yield* warehouse.insert("event_rows", batch)
  // The run's rows and the run carry the same computed_at: that is how the run's rows are told from other runs'.
  const scoredAt = new Date().toISOString().replace("T", " ").slice(0, 23)
  // What relationship, health, churn-risk and sentiment conditions read: one relations run scoring every profile (as
  // `cdp relations compute` stores it) and a score for every chat message (as the sentiment stage stores it).
  yield* warehouse.command(
    "INSERT INTO relation_scores (tenant, as_of, profile_id, relationship_type, health_score, churn_risk, sentiment_level, sentiment_trend, " +
      "factors, signals, computed_at) SELECT {t:String}, today(), concat('prof_bench_', toString(number)), " +
      "['advocate', 'loyal_quiet', 'love_hate', 'at_risk', 'detractor', 'distant', 'new'][number % 7 + 1], number % 101, (number % 100) / 100, " +
      "NULL, NULL, [], '{}', {at:DateTime64(3, 'UTC')} FROM numbers({n:UInt64})", { t: TENANT, n: PROFILES, at: scoredAt })
  yield* warehouse.command("INSERT INTO relation_runs (tenant, as_of, computed_at, profiles) SELECT {t:String}, today(), {at:DateTime64(3, 'UTC')}, {n:UInt64}", { t: TENANT, n: PROFILES, at: scoredAt })
  yield* warehouse.command(
    "INSERT INTO sentiment (tenant, message_id, profile_id, channel, source, timestamp, scored_at, status, reason, language, score, label, " +
      "model_version, evidence, aspects) SELECT tenant, message_id, profile_id, channel, source, timestamp, now64(3), 'scored', '', 'en', " +
      "(cityHash64(message_id) % 2001) / 1000 - 1 AS s, multiIf(s < -0.3, 'negative', s > 0.3, 'positive', 'neutral'), 'bench', '', [] " +
      "FROM event_rows WHERE tenant = {t:String} AND channel = 'chat'", { t: TENANT })
  // Consent signals as the consent stage records them: a grant on every 10th profile's identify, a refusal on every 50th.
  yield* warehouse.command(
    "INSERT INTO consent_ledger (tenant, message_id, profile_id, purpose, state, basis, source, proof, device, timestamp, recorded_at) " +
      "SELECT {t:String}, concat('id-', toString(p)), concat('prof_bench_', toString(p)), 'EmailMarketing', s, 'legitimate_interest', " +
      "'segment_preference_updated', concat('id-', toString(p)), '', now64(3) - toIntervalDay(if(s = 'granted', 100, 10)), now64(3) " +
      "FROM (SELECT number * 10 AS p, if(number % 5 = 0, 'denied', 'granted') AS s FROM numbers(intDiv({n:UInt64} + 9, 10)))",
    { t: TENANT, n: PROFILES })
  out(`audiences: ${fmt(TARGET_EVENTS)} events of ${fmt(PROFILES)} profiles (${fmt(Math.ceil(PROFILES / 10))} consent signals, ` +
    `${fmt(Math.ceil(PROFILES / 50))} of them refusals; load ${loadavg().map((l) => l.toFixed(1)).join(" ")}); audience: plan = pro AND >= 2 orders in 30 days AND seen on e-mail in 60 days (purpose EmailMarketing)`)
  const ceiling = yield* timed(warehouse.query("SELECT count() AS profiles, sum(n) AS events FROM (SELECT profile_id, count() AS n FROM events WHERE tenant = {t:String} GROUP BY profile_id)", { params: { t: TENANT } }))
  // A preview (count and 10 sampled with why) three times: its median time and its member count.
  const previewMedian = (condition: Parameters<typeof previewAudience>[2]) => Effect.gen(function* () {
    const times: Array<number> = []
    let members = 0
    for (let i = 0; i < 3; i++) {
      const p = yield* timed(previewAudience(TENANT, "EmailMarketing", condition, 10))
      times.push(p.ms)
      members = p.value.count
    }
    return { ms: median(times), members }
  })
  const three = yield* previewMedian(THREE)
  out(`  preview (count, 10 sampled with why): ${fmt(three.ms)} ms median of 3 (${fmt(three.members)} members); ` +
    `ceiling, one GROUP BY profile scan of the events: ${fmt(ceiling.ms)} ms (${fmt(three.ms / ceiling.ms, 1)}x)`)
  if (CONSENT_ONLY) {
    yield* createAudience(TENANT, { name: "Engaged pro buyers", purpose: "EmailMarketing", condition: CONDITION }, "bench")
    yield* refreshAudiences({ tenant: TENANT })
    yield* refreshPartial
    yield* consentListing
    out(`  load after: ${loadavg().map((l) => l.toFixed(1)).join(" ")}`)
    return
  }
  const eventsOnly = parseCondition({ and: CONDITION.and.slice(1) })
  if ("reason" in eventsOnly) throw new Error(eventsOnly.message)
  const lean = (yield* previewMedian(eventsOnly)).ms
  out(`  the same without the trait (no profiles view needed: one scan of the events): preview ${fmt(lean)} ms median of 3 (${fmt(lean / ceiling.ms, 1)}x the ceiling)`)
  // One audience per leaf kind that used to read the whole profiles view, each alone and with the two event leaves.
  for (const [label, leaf] of LEAVES) {
    for (const [shape, condition] of [["alone", leaf], ["with the event leaves", { and: [leaf, ...CONDITION.and.slice(1)] }]] as const) {
      const parsed = parseCondition(condition)
      if ("reason" in parsed) throw new Error(parsed.message)
      const { ms, members } = yield* previewMedian(parsed)
      out(`  ${label} ${shape}: preview ${fmt(ms)} ms median of 3 (${fmt(members)} members, ${fmt(ms / ceiling.ms, 1)}x the ceiling)`)
    }
  }
  const audience = yield* createAudience(TENANT, { name: "Engaged pro buyers", purpose: "EmailMarketing", condition: CONDITION }, "bench")
  const first = yield* timed(refreshAudiences({ tenant: TENANT }))
  out(`  first refresh (every member's entry recorded): ${fmt(first.ms)} ms for ${fmt(first.value.entered)} entries`)
  const steady = yield* timed(refreshAudiences({ tenant: TENANT }))
  out(`  full refresh with nothing changed (every 60 s while cdp serve runs, and after a relations run or an erasure): ${fmt(steady.ms)} ms`)

  yield* refreshPartial
  yield* consentListing

  // Entry and exit latency: a person lands who matches, later one who stops matching (plan changes), while the
  // refresher runs as in cdp serve.
  const emit = (events: ReadonlyArray<CanonicalEvent>) => pipeline.submit(events, [], { archive: false })
  const fiber = yield* Effect.forkChild(keepAudiencesCurrent({ emit, landed: () => pipeline.counters.landed }))
  const changes = () =>
    Effect.map(warehouse.query<{ n: string }>("SELECT count() AS n FROM audience_changes WHERE tenant = {t:String} AND audience_id = {a:String}", { params: { t: TENANT, a: audience.id } }), (r) => Number(r[0]!.n))
  const waitFor = (n: number) =>
    Effect.gen(function* () {
      for (;;) {
        if ((yield* changes()) >= n) return
        yield* Effect.sleep("20 millis")
      }
    })
  const latencies: Array<number> = []
  for (let i = 0; i < 3; i++) {
    const user = `late-${i}`
    const at = (d: number) => new Date(Date.now() - d * DAY).toISOString()
    for (const [what, events] of [
      ["entry", [
        { ...base, messageId: `late-${i}-id`, type: "identify", userId: user, timestamp: at(5), traits: { plan: "pro" } },
        { ...base, messageId: `late-${i}-o1`, userId: user, event: "Order Completed", timestamp: at(3) },
        { ...base, messageId: `late-${i}-o2`, userId: user, event: "Order Completed", timestamp: at(2) },
        { ...base, messageId: `late-${i}-m`, userId: user, channel: "email", event: "Email Opened", timestamp: at(1) },
      ]],
      ["exit", [{ ...base, messageId: `late-${i}-down`, type: "identify", userId: user, timestamp: new Date().toISOString(), traits: { plan: "free" } }]],
    ] as const) {
      const before = yield* changes()
      yield* pipeline.submit(events as ReadonlyArray<CanonicalEvent>, [], { archive: false })
      const t = performance.now()
      yield* waitFor(before + 1)
      latencies.push(performance.now() - t)
      void what
    }
  }
  yield* Fiber.interrupt(fiber)
  const entries = latencies.filter((_, i) => i % 2 === 0)
  const exits = latencies.filter((_, i) => i % 2 === 1)
  out(`  entry latency after its events land: ${entries.map((ms) => fmt(ms)).join(", ")} ms; exit latency: ${exits.map((ms) => fmt(ms)).join(", ")} ms ` +
    "(the refresher as cdp serve runs it)")
})

const dir = freshDir("cdp-bench-audiences-")
try {
  await Effect.runPromise(main.pipe(Effect.scoped, Effect.provide(pipelineLayer(backendConfig(join(dir, "data")))), Effect.provide(Logger.layer([]))))
} finally {
  removeDir(dir)
}
