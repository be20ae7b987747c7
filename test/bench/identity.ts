// Identity benchmark (issue 12, "Measured, not assumed"): links resolved per second on the online path (as the stage
// resolves: stored messages read back, here from an in-memory store), memory per million identifiers, `cdp identity rebuild` time, end-to-end events/s with identity on and off, and the latency of
// GET /v1/profiles/{identifier} with about a million events landed. Run by `npm run bench` (with --expose-gc); not
// part of the tests. BENCH_IDENTITY_PARTS=online,memory,rebuild,e2e,profile picks parts (default: all); where the
// online path spends its time: node --cpu-prof test/bench/identity.ts with BENCH_IDENTITY_PARTS=online. Only the
// online and memory parts (a few seconds): BENCH_IDENTITY_PARTS=online,memory node --expose-gc test/bench/identity.ts.
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import { homedir, availableParallelism, cpus } from "node:os"
import { join } from "node:path"
import { Effect, Logger } from "effect"
import { defaultIdentityConfig, parseIdentifier, showProfile, TenantGraph } from "../../identity/index.ts"
import { extractSightings } from "../../identity/extract.ts"
import type { Observation } from "../../identity/graph.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { FILE_SOURCES } from "../../ingest/sources/index.ts"
import { DEFAULT_TENANT } from "../../ingest/writekeys.ts"
import { dropSnapshots } from "../../warehouse/identity-snapshots.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { runCdp } from "../support/cli.ts"
import { StoredObservations } from "../support/observations.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { SHARED_DIR, SIGNALS_DEV } from "../support/shared.ts"
import { countEvents, sendLoad, startServer, templates } from "./http-load.ts"

const PARTS = new Set((process.env["BENCH_IDENTITY_PARTS"] ?? "online,memory,rebuild,e2e,profile").split(","))
const PEOPLE = Number(process.env["BENCH_PEOPLE"] ?? 6000)
const BATCH = 500
const TARGET_LINKS_PER_SECOND = 200_000
/** Copies of the generated set's observations (values made distinct per copy) for the memory measure. */
const MEMORY_COPIES = Number(process.env["BENCH_MEMORY_COPIES"] ?? 20)
const E2E_MESSAGES = Number(process.env["BENCH_IDENTITY_MESSAGES"] ?? 200_000)
const CONCURRENCY = Number(process.env["BENCH_CONCURRENCY"] ?? 16)
const PROFILE_EVENTS = Number(process.env["BENCH_PROFILE_EVENTS"] ?? 1_000_000)
const PROFILE_REQUESTS = Number(process.env["BENCH_PROFILE_REQUESTS"] ?? 200)
/** The sets' people write US and UK numbers without a country code (as in the dev-set scoring test). */
const PHONE_REGIONS = ["US", "GB"]
const CDP_ENV = { CDP_PHONE_REGIONS: PHONE_REGIONS.join(",") }

/** Source and file of each part of a signals set, as `cdp ingest` takes them (invalid.ndjson: dead letters only). */
const SOURCES: ReadonlyArray<readonly [string, string]> = [
  ["segment", "web.ndjson"], ["segment", "invalid.ndjson"], ["sendgrid", "email-events.json"], ["email", "email-inbound"],
  ["chat", "chat.ndjson"], ["twitter", "tweets.json"], ["calls", "calls.csv"],
]

const fmt = (n: number, digits = 0) => n.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: digits })
const out = (line = "") => process.stdout.write(`${line}\n`)

/** The generated set (seeded, so the same every run), made once under ~/.cache/cdp/bench. */
const generatedSet = (): string => {
  const dir = join(homedir(), ".cache", "cdp", "bench", `signals-${PEOPLE}`)
  if (!existsSync(join(dir, "truth", "items.ndjson"))) {
    const r = spawnSync(process.execPath, [join(SHARED_DIR, "data/signals/generate.mjs"), "--out", dir, "--people", String(PEOPLE)], { encoding: "utf8" })
    if (r.status !== 0) throw new Error(`generate.mjs: ${r.stderr}`)
  }
  return dir
}

/** Every event of a signals set, read by the connectors `cdp ingest` uses. */
const readEvents = async (dir: string): Promise<Array<CanonicalEvent>> => {
  const events: Array<CanonicalEvent> = []
  const ctx = { tenant: "bench", receivedAtMs: Date.now() }
  for (const [source, file] of SOURCES) {
    for await (const item of FILE_SOURCES.get(source)!.read(join(dir, file), ctx)) if (item._tag === "event") events.push(item.event)
  }
  return events
}

const byTime = (x: Observation, y: Observation) => x.timeMs - y.timeMs || (x.messageId < y.messageId ? -1 : x.messageId > y.messageId ? 1 : 0)

const linksOf = (observations: ReadonlyArray<Observation>) => observations.reduce((n, o) => n + Math.max(0, o.sightings.length - 1), 0)

/** Main-thread CPU seconds so far (what one core spends, whatever else the machine runs). */
const threadCpu = () => {
  const u = process.threadCpuUsage()
  return (u.user + u.system) / 1e6
}

/** What feeding a graph cost, and what its re-resolutions read back. */
interface Fed {
  readonly seconds: number
  readonly cpu: number
  /** Of `cpu`, what graph.resolve took (its read-backs from the store included, the store's upkeep not). */
  readonly graphCpu: number
  /** Stored messages that moved with a whole part (found by identifier, as the stage finds them). */
  readonly partMoved: number
}

/**
 * Feeds a fresh graph in batches as the identity stage does: every batch resolved with the stored messages of the
 * parts it resolves again read back, and the stored messages of parts that moved whole looked up by identifier. The
 * store is in memory (test/support/observations.ts, what identity_sightings answers the stage), so the figures are
 * the graph's work plus that in-memory store's (its lookups and its upkeep of each batch), not the warehouse's reads.
 * Returns the wall and main-thread CPU seconds of it.
 */
const feed = (graph: TenantGraph, observations: ReadonlyArray<Observation>, store = new StoredObservations()): Fed => {
  let seconds = 0
  let cpu = 0
  let graphCpu = 0
  let partMoved = 0
  // The store calls only `resolve` on the graph it is given: this view times that call apart from the store's upkeep.
  const timed = {
    resolve: (batch: ReadonlyArray<Observation>, read: Parameters<TenantGraph["resolve"]>[1]) => {
      const c = threadCpu()
      const r = graph.resolve(batch, read)
      graphCpu += threadCpu() - c
      return r
    },
  } as TenantGraph
  for (let i = 0; i < observations.length; i += BATCH) {
    const batch = observations.slice(i, i + BATCH)
    const t = performance.now()
    const c = threadCpu()
    const r = store.resolve(timed, batch)
    cpu += threadCpu() - c
    seconds += (performance.now() - t) / 1000
    partMoved += r.allMoved.length - r.moved.length
  }
  return { seconds, cpu, graphCpu, partMoved }
}

/** Copy k of the observations: other messages and other people (every value prefixed), same times and shapes. */
const copyOf = (observations: ReadonlyArray<Observation>, k: number): Array<Observation> =>
  observations.map((o) => ({
    messageId: `c${k}~${o.messageId}`, timeMs: o.timeMs,
    sightings: o.sightings.map((s) => ({ ...s, value: `c${k}~${s.value}` })),
  }))

const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
const percentile = (xs: ReadonlyArray<number>, p: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!
}

// ---------------------------------------------------------------------------------------------------------------
const online = (observations: ReadonlyArray<Observation>, extractSeconds: number, events: number) => {
  const links = linksOf(observations)
  out(`\n### 1. Online path: TenantGraph.resolve as the identity stage calls it, one core, batches of ${BATCH}, in time order`)
  out(`each batch reads back the stored messages of the parts it resolves again, and looks up by identifier those of parts ` +
    `that moved whole, from an in-memory store of every observation resolved so far (test/support/observations.ts: what ` +
    `identity_sightings answers the stage); the figures include that store's lookups and upkeep, not the warehouse's ` +
    `reads (part 4 runs the whole pipeline)`)
  out(`input: the generated ${fmt(PEOPLE)}-people set: ${fmt(events)} events -> ${fmt(observations.length)} observations with a sighting, ` +
    `${fmt(links)} links (sightings beyond the first per message), ${fmt(observations.reduce((n, o) => n + o.sightings.length, 0))} sightings`)
  out(`extraction (extractSightings, defaultIdentityConfig(["US","GB"]).extract), not in the figures below: ` +
    `${fmt(events / extractSeconds)} events/s`)
  const gc = (globalThis as { gc?: () => void }).gc
  const passes: Array<Fed> = []
  let stats = { unions: 0, reresolved: 0 }
  for (let pass = 0; pass < 9; pass++) {
    // Each pass starts from a collected heap: the graphs of earlier passes are not collected on this one's time.
    gc?.()
    const graph = new TenantGraph("bench")
    passes.push(feed(graph, observations))
    stats = graph.stats
  }
  out(`\n| pass (fresh graph each) | wall seconds (graph and store) | main-thread CPU seconds (graph and store) | of which graph.resolve | links/s (wall) | links/s (CPU, graph and store) | links/s (CPU, graph.resolve) |\n|---|---:|---:|---:|---:|---:|---:|`)
  passes.forEach((p, i) => out(`| ${i + 1}${i === 0 ? " (cold JIT)" : ""} | ${p.seconds.toFixed(3)} | ${p.cpu.toFixed(3)} | ${p.graphCpu.toFixed(3)} | ` +
    `${fmt(links / p.seconds)} | ${fmt(links / p.cpu)} | ${fmt(links / p.graphCpu)} |`))
  const warm = passes.slice(1)
  const med = median(warm.map((p) => p.seconds))
  const best = Math.min(...warm.map((p) => p.seconds))
  const medCpu = median(warm.map((p) => p.cpu))
  const medGraphCpu = median(warm.map((p) => p.graphCpu))
  const verdict = (perSecond: number) => perSecond >= TARGET_LINKS_PER_SECOND ? "met" : `NOT met (${(perSecond / TARGET_LINKS_PER_SECOND).toFixed(2)}x of target)`
  out(`\nlinks/s: median ${fmt(links / med)} wall, best ${fmt(links / best)} (warm passes 2-9); target >= ${fmt(TARGET_LINKS_PER_SECOND)}: ${verdict(links / med)}`)
  out(`links/s on the main thread's CPU time (not slowed by other processes on the machine): median ${fmt(links / medCpu)} with the ` +
    `in-memory store's upkeep: ${verdict(links / medCpu)}; in graph.resolve alone (read-backs included): ${fmt(links / medGraphCpu)}: ${verdict(links / medGraphCpu)}`)
  out(`observations/s: median ${fmt(observations.length / med)} wall, ${fmt(observations.length / medCpu)} CPU`)
  out(`messages applied as a union (fast path): ${fmt(stats.unions)} of ${fmt(observations.length)}; observations resolved again with ` +
    `the parts their messages touched (resolveGraph, stored ones read back included): ${fmt(stats.reresolved)}; stored messages ` +
    `moved with a whole part (looked up by identifier): ${fmt(passes[passes.length - 1]!.partMoved)}`)
}

// ---------------------------------------------------------------------------------------------------------------
const memory = (observations: ReadonlyArray<Observation>) => {
  out(`\n### 2. Memory per million identifiers: heap of one TenantGraph (--expose-gc, gc before and after; the graph holds ` +
    `identifiers and parts, no messages: the read-back store it was fed with is dropped before the measure)`)
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) {
    out("skipped: run with node --expose-gc (npm run bench does)")
    return
  }
  gc()
  gc()
  const before = process.memoryUsage().heapUsed
  // Everything made from here on is dropped before the second measure except the graph (and the observations it keeps).
  let all: Array<Observation> | undefined = Array.from({ length: MEMORY_COPIES }, (_, k) => copyOf(observations, k + 1)).flat().sort(byTime)
  let distinct: Set<string> | undefined = new Set<string>()
  for (const o of all) for (const s of o.sightings) distinct.add(`${s.kind}:${s.value}`)
  const identifiers = distinct.size
  const links = linksOf(all)
  distinct = undefined
  const graph = new TenantGraph("bench")
  const messages = all.length
  const { seconds } = feed(graph, all)
  // The in-memory store made in feed (every observation) is garbage once feed returns.
  all = undefined
  gc()
  gc()
  const after = process.memoryUsage().heapUsed
  const bytes = after - before
  out(`graph: ${MEMORY_COPIES} disjoint copies of the set (values prefixed per copy): ${fmt(identifiers)} identifiers, ` +
    `${fmt(messages)} messages, ${fmt(links)} links; filled in ${seconds.toFixed(1)} s ` +
    `(${fmt(links / seconds)} links/s, ${fmt(messages / seconds)} observations/s at this size)`)
  out(`heap held by the graph: ${fmt(bytes / 2 ** 20, 1)} MiB`)
  out(`=> ${fmt(bytes / identifiers)} bytes per identifier, ${fmt(bytes / messages)} bytes per message; ` +
    `per million identifiers: ${fmt(bytes / identifiers * 1e6 / 2 ** 30, 2)} GiB ` +
    `(at this set's ${(messages / identifiers).toFixed(2)} messages per identifier)`)
  // Keep the graph alive until after the measure.
  if (graph.nodeTotal < 0) out(String(graph))
}

// ---------------------------------------------------------------------------------------------------------------
/** Lands a signals set with `cdp ingest` (each source in time: what the pipeline's identity stage costs is in it). */
const ingestSet = (setDir: string, dataDir: string) => {
  const started = performance.now()
  for (const [source, file] of SOURCES) {
    const r = runCdp(["ingest", "--source", source, join(setDir, file), "--data-dir", dataDir], { env: CDP_ENV })
    // invalid.ndjson is every line refused: `cdp ingest` exits 1 saying nothing landed, as it should.
    if (r.status !== 0 && !(file === "invalid.ndjson" && r.stderr.includes("nothing landed"))) throw new Error(`cdp ingest ${source} ${file}: ${r.stderr}`)
  }
  return (performance.now() - started) / 1000
}

interface RebuildReport {
  readonly seconds: number
  readonly tenants: ReadonlyArray<{ readonly messages: number; readonly moved: number; readonly seconds: number; readonly profilesAfter: number }>
}

const rebuild = (dataDir: string) => {
  const started = performance.now()
  const r = spawnSync(process.execPath, [join(import.meta.dirname, "../../bin/cdp.js"), "identity", "rebuild", "--format", "json", "--data-dir", dataDir], {
    encoding: "utf8", env: { ...process.env, ...CDP_ENV }, maxBuffer: 64 * 2 ** 20,
  })
  const wall = (performance.now() - started) / 1000
  if (r.status !== 0) throw new Error(`cdp identity rebuild: ${r.stderr}`)
  return { wall, report: JSON.parse(r.stdout) as RebuildReport }
}

const rebuilds = (generated: string) => {
  out(`\n### 3. cdp identity rebuild (the command, as a child process; CDP_PHONE_REGIONS=US,GB)`)
  out(`| set | events | cdp ingest, all sources (s) | rebuild wall (s) | rebuild's own seconds | moved |\n|---|---:|---:|---:|---:|---:|`)
  let kept: string | undefined
  for (const [name, setDir] of [["dev (1,500 people)", SIGNALS_DEV], [`generated (${fmt(PEOPLE)} people)`, generated]] as const) {
    const dir = freshDir("cdp-bench-rebuild-")
    const dataDir = join(dir, "data")
    const ingestSeconds = ingestSet(setDir, dataDir)
    const { wall, report } = rebuild(dataDir)
    const messages = report.tenants.reduce((n, t) => n + t.messages, 0)
    out(`| ${name} | ${fmt(messages)} | ${ingestSeconds.toFixed(1)} | ${wall.toFixed(2)} | ${report.seconds.toFixed(2)} | ${fmt(report.tenants.reduce((n, t) => n + t.moved, 0))} |`)
    if (setDir === generated) kept = dir
    else removeDir(dir)
  }
  out(`(wall = process start to exit, including start-up and opening the engine; own seconds = what the command reports: ` +
    `loading observations, resolving, comparing with events, storing)`)
  return kept!
}

// ---------------------------------------------------------------------------------------------------------------
/** How long `cdp serve` takes to be ready again on a data dir (it loads every tenant's graph), or why it did not start. */
const restart = async (dataDir: string): Promise<string> => {
  const started = performance.now()
  try {
    const server = await startServer(dataDir)
    const seconds = (performance.now() - started) / 1000
    await server.stop()
    return `ready in ${seconds.toFixed(1)} s`
  } catch (e) {
    process.exitCode = 1
    return `FAILED: ${(e as Error).message.split("\n")[0]}`
  }
}

const e2e = async () => {
  let restartNote = ""
  out(`\n### 4. End-to-end events/s, identity on vs off: the pipeline bench's HTTP load (${fmt(E2E_MESSAGES)} Segment messages, ` +
    `batches of 500, ${CONCURRENCY} concurrent requests; same messages both runs)`)
  const people = new Set(templates.map((t) => { const m = JSON.parse(t) as { userId?: string; anonymousId?: string }; return m.userId ?? m.anonymousId }))
  out(`note: the load repeats the ${fmt(templates.length)} sample messages with new messageIds, so it states the identifiers of ` +
    `only ~${fmt(people.size)} browsers/users over and over: after the first round nearly every message is already linked ` +
    `(the online path's fast case); items 1 and 2 measure the graph on realistic identity`)
  const rows: Array<{ name: string; landed: number; seconds: number; serverCpu: number }> = []
  for (const identity of ["off", "on"] as const) {
    const dataDir = freshDir(`cdp-bench-identity-${identity}-`)
    const server = await startServer(dataDir, { CDP_IDENTITY: identity })
    const load = await sendLoad(server, E2E_MESSAGES, CONCURRENCY)
    await server.stop()
    const landed = countEvents(dataDir)
    if (identity === "on") {
      // cdp serve wrote a snapshot of the graph when it stopped: the restart loads it; then again without it.
      const withSnapshot = await restart(dataDir)
      await Effect.runPromise(withWarehouse(dataDir, dropSnapshots()))
      const full = await restart(dataDir)
      restartNote = `from the snapshot written at shutdown: ${withSnapshot}; with the snapshot deleted (every observation read): ${full}`
    }
    removeDir(dataDir)
    if (landed !== E2E_MESSAGES || load.accepted !== E2E_MESSAGES) {
      out(`WARNING: identity ${identity}: sent ${E2E_MESSAGES}, accepted ${load.accepted}, landed ${landed}`)
      process.exitCode = 1
    }
    rows.push({ name: `identity ${identity}`, landed, seconds: load.seconds, serverCpu: load.serverCpu })
  }
  out(`\n| run | landed | seconds | events/s | cdp serve CPU (core-s) |\n|---|---:|---:|---:|---:|`)
  for (const r of rows) out(`| ${r.name} | ${fmt(r.landed)} | ${r.seconds.toFixed(2)} | ${fmt(r.landed / r.seconds)} | ${r.serverCpu.toFixed(1)} |`)
  const [off, on] = rows as [typeof rows[0], typeof rows[0]]
  out(`\nrestart of cdp serve on the identity-on data dir (identity state rebuilt from ${fmt(E2E_MESSAGES)} stored observations): ${restartNote}`)
  out(`\nidentity on / off = ${(on.landed / on.seconds / (off.landed / off.seconds)).toFixed(2)} ` +
    `(server CPU per 100k events: off ${(off.serverCpu / off.landed * 1e5).toFixed(1)} s, on ${(on.serverCpu / on.landed * 1e5).toFixed(1)} s)`)
}

/** An effect run on a data dir's warehouse (in this process). */
const withWarehouse = <A, E>(dataDir: string, effect: Effect.Effect<A, E, Warehouse>) =>
  effect.pipe(Effect.scoped, Effect.provide(Warehouse.embedded(join(dataDir, "clickhouse"))), Effect.provide(Logger.layer([])))

// ---------------------------------------------------------------------------------------------------------------
/**
 * Copies of a landed set as other people of the same tenant, until about `target` events: every message id, profile
 * id and identifier value gets a per-copy prefix "cK~" (phones, which a prefix would make invalid, are not copied as
 * identifiers). Identity tables and events are copied alike, so a profile lookup does the work it does on real data.
 */
const replicate = (dataDir: string, target: number) =>
  Effect.gen(function* () {
    const w = yield* Warehouse
    const [row] = yield* w.query<{ n: string }>("SELECT count() AS n FROM event_rows")
    const base = Number(row!.n)
    const copies = Math.max(0, Math.ceil(target / base) - 1)
    const t = performance.now()
    // The filter sits in a subquery: ClickHouse lets WHERE see SELECT's aliases, which REPLACE reuses as column names.
    const originals = (table: string, column: string, more = "") => `(SELECT * FROM ${table} WHERE NOT match(${column}, '^c[0-9]+~')${more})`
    for (let k = 1; k <= copies; k++) {
      const p = `'c${k}~'`
      const moved = (column: string) => `concat(${p}, ${column}) AS ${column}`
      yield* w.command(`INSERT INTO event_rows SELECT * REPLACE (${moved("message_id")}, ${moved("profile_id")}) FROM ${originals("event_rows", "message_id")}`)
      yield* w.command(`INSERT INTO event_profiles SELECT * REPLACE (${moved("message_id")}, ${moved("profile_id")}) FROM ${originals("event_profiles", "message_id")}`)
      yield* w.command(`INSERT INTO identity_observations SELECT * REPLACE (${moved("message_id")}, ` +
        `arrayMap(s -> (s.1, if(s.1 = 'phone', s.2, concat(${p}, s.2)), s.3, s.4), sightings) AS sightings) FROM ${originals("identity_observations", "message_id")}`)
      yield* w.command(`INSERT INTO identity_nodes SELECT * REPLACE (${moved("value")}, ${moved("profile_id")}) FROM ${originals("identity_nodes", "value", " AND kind != 'phone'")}`)
      yield* w.command(`INSERT INTO profile_merges SELECT * REPLACE (${moved("from_profile")}, ${moved("to_profile")}) FROM ${originals("profile_merges", "to_profile")}`)
      yield* w.command(`INSERT INTO sentiment SELECT * REPLACE (${moved("message_id")}) FROM ${originals("sentiment", "message_id")}`)
    }
    const [after] = yield* w.query<{ n: string }>("SELECT count() AS n FROM events")
    return { base, copies, events: Number(after!.n), seconds: (performance.now() - t) / 1000 }
  }).pipe(Effect.scoped, Effect.provide(Warehouse.embedded(join(dataDir, "clickhouse"))), Effect.provide(Logger.layer([])))

/** Identifiers of profiles to look up, spread over the landed set (phones only where they were not copied). */
const sampleIdentifiers = (dataDir: string, n: number): Array<string> => {
  const r = runCdp(["query", "SELECT kind, value FROM identity_nodes FINAL WHERE shared = '' AND slice = 0 AND " +
    "(kind IN ('user_id', 'email', 'anonymous_id') OR kind = 'phone' AND NOT match(value, '^c[0-9]+~')) " +
    `ORDER BY cityHash64(kind, value) LIMIT ${n}`, "--data-dir", dataDir])
  if (r.status !== 0) throw new Error(`cdp query: ${r.stderr}`)
  return r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { kind: string; value: string }).map((x) => `${x.kind}:${x.value}`)
}

/** Sequential GETs (latency, not throughput) of each identifier's profile through `cdp serve`. */
const profileLatency = async (dataDir: string, identifiers: ReadonlyArray<string>) => {
  const server = await startServer(dataDir, CDP_ENV)
  const token = readFileSync(join(dataDir, "admin-token"), "utf8").trim()
  const get = async (identifier: string) => {
    const t = performance.now()
    const res = await fetch(`${server.url}/v1/profiles/${encodeURIComponent(identifier)}`, { headers: { authorization: `Bearer ${token}` } })
    const body = (await res.json()) as { channels?: Record<string, number> }
    return { ms: performance.now() - t, status: res.status, events: Object.values(body.channels ?? {}).reduce((a, b) => a + b, 0) }
  }
  try {
    for (const id of identifiers.slice(0, 10)) await get(id) // warm-up
    const results = []
    for (const id of identifiers) results.push(await get(id))
    return summarise(results)
  } finally {
    await server.stop()
  }
}

type Latency = Awaited<ReturnType<typeof profileLatency>>

/** The same reads as the route (showProfile), in this process, for when `cdp serve` cannot be measured. */
const profileLatencyInProcess = (dataDir: string, identifiers: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const normalise = defaultIdentityConfig(PHONE_REGIONS).extract.normalise
    const get = (identifier: string) => Effect.gen(function* () {
      const ref = parseIdentifier(identifier, normalise)
      if (ref instanceof Error) return { ms: 0, status: 400, events: 0 }
      const t = performance.now()
      const view = yield* Effect.result(showProfile(DEFAULT_TENANT, ref, 20))
      const ms = performance.now() - t
      return view._tag === "Success"
        ? { ms, status: 200, events: Object.values(view.success.channels).reduce((a, b) => a + b, 0) }
        : { ms, status: view.failure._tag === "ProfileNotFound" ? 404 : 500, events: 0 }
    })
    for (const id of identifiers.slice(0, 10)) yield* get(id)
    const results = []
    for (const id of identifiers) results.push(yield* get(id))
    return summarise(results)
  }).pipe(Effect.scoped, Effect.provide(Warehouse.embedded(join(dataDir, "clickhouse"))), Effect.provide(Logger.layer([])))

const summarise = (results: ReadonlyArray<{ ms: number; status: number; events: number }>) => {
  const ok = results.filter((r) => r.status === 200)
  return {
    n: results.length, ok: ok.length, statuses: [...new Set(results.map((r) => r.status))].join(","),
    p50: percentile(ok.map((r) => r.ms), 0.5), p99: percentile(ok.map((r) => r.ms), 0.99), max: Math.max(...ok.map((r) => r.ms)),
    eventsMedian: median(ok.map((r) => r.events)), eventsMax: Math.max(...ok.map((r) => r.events)),
  }
}

const profiles = async (dataDir: string) => {
  out(`\n### 5. Profile read latency: GET /v1/profiles/{identifier} on cdp serve (sequential requests, admin token), and the ` +
    `same reads in-process (showProfile, no HTTP, no server start-up); ${PROFILE_REQUESTS} identifiers each, after 10 warm-up reads`)
  out(`| events landed (one tenant) | how | reads | 200s | statuses | p50 ms | p99 ms | max ms | events per profile (median / max) |\n` +
    `|---:|---|---:|---:|---|---:|---:|---:|---|`)
  const row = (events: number, how: string, r: Latency) =>
    out(`| ${fmt(events)} | ${how} | ${r.n} | ${r.ok} | ${r.statuses} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${r.eventsMedian} / ${r.eventsMax} |`)
  const measure = async (events: number) => {
    const identifiers = sampleIdentifiers(dataDir, PROFILE_REQUESTS)
    row(events, "in-process showProfile", await Effect.runPromise(profileLatencyInProcess(dataDir, identifiers)))
    try {
      row(events, "HTTP GET /v1/profiles", await profileLatency(dataDir, identifiers))
    } catch (e) {
      out(`| ${fmt(events)} | HTTP GET /v1/profiles | - | - | cdp serve did not start: ${(e as Error).message.split("\n")[0]!.replace(/\|/g, "/")} | | | | |`)
      process.exitCode = 1
    }
  }
  await measure(countEvents(dataDir))
  const copied = await Effect.runPromise(replicate(dataDir, PROFILE_EVENTS))
  await measure(copied.events)
  out(`(the ${fmt(copied.events)}-event set is the generated set landed by cdp ingest plus ${copied.copies} copies of it as other people of ` +
    `the same tenant, bulk-inserted in ${copied.seconds.toFixed(1)} s: message ids, profile ids and identifier values prefixed per copy; ` +
    `phones are looked up in the original only)`)
}

// ---------------------------------------------------------------------------------------------------------------
const cores = availableParallelism()
out(`identity benchmark: ${cores} cores (${cpus()[0]?.model ?? "?"}), Node ${process.versions.node}`)
const generated = generatedSet()
if (PARTS.has("online") || PARTS.has("memory")) {
  const events = await readEvents(generated)
  const config = defaultIdentityConfig(PHONE_REGIONS).extract
  const t = performance.now()
  const observations = events.map((e) => extractSightings(e, config).observation).filter((o) => o.sightings.length > 0)
  const extractSeconds = (performance.now() - t) / 1000
  observations.sort(byTime)
  if (PARTS.has("online")) online(observations, extractSeconds, events.length)
  if (PARTS.has("memory")) memory(observations)
}
let landedGenerated: string | undefined
if (PARTS.has("rebuild") || PARTS.has("profile")) landedGenerated = rebuilds(generated)
if (PARTS.has("e2e")) await e2e()
if (PARTS.has("profile")) await profiles(join(landedGenerated!, "data"))
// BENCH_KEEP=1 keeps the landed (and, after part 5, replicated) generated set for a closer look.
if (landedGenerated !== undefined) {
  if (process.env["BENCH_KEEP"] === "1") out(`\nkept: ${join(landedGenerated, "data")}`)
  else removeDir(landedGenerated)
}
