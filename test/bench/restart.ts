// Start-up cost with a large warehouse: time to ready and RSS of `cdp serve`, and of `cdp worker` when Kafka is up
// (CDP_KAFKA_BROKERS, e.g. eval "$(deploy/services/up)"), on a data dir with N landed events and their identity
// observations (50,000 browsers). The first start has no identity snapshot and reads every observation; it writes
// one when it stops, and the restarts after it read that snapshot plus what was stored since, which must not grow
// with N. Run by `npm run bench` with BENCH_RESTART_EVENTS (default 1,000,000; the README also gives 10,000,000);
// by hand: node test/bench/restart.ts [DATA_DIR] [events] (a given DATA_DIR is filled once and kept).
import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { availableParallelism, loadavg } from "node:os"
import { join } from "node:path"
import { Effect, Logger } from "effect"
import kafkajs from "kafkajs"
import { chDateTime, eventRow } from "../../warehouse/sink.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { CDP_BIN } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const given = process.argv[2]
const dir = given ?? freshDir("cdp-bench-restart-")
const events = Number(process.argv[3] ?? process.env["BENCH_RESTART_EVENTS"] ?? 1_000_000)
const brokers = process.env["CDP_KAFKA_BROKERS"]
const BROWSERS = 50_000
const FILL_BATCH = 100_000

/** Events as a week of web traffic landed them, with the observation identity stored for each (an hour ago). */
const fill = () => Effect.gen(function* () {
  const w = yield* Warehouse
  const observedAt = chDateTime(new Date(Date.now() - 3_600_000).toISOString())
  for (let start = 0; start < events; start += FILL_BATCH) {
    const rows = []
    const observations = []
    const sightings = []
    for (let i = start; i < Math.min(events, start + FILL_BATCH); i++) {
      const ts = new Date(Date.UTC(2024, i % 12, 1 + (i % 28), i % 24)).toISOString()
      const anon = `anon-${i % BROWSERS}`
      const messageId = `restart-${i}-${"x".repeat(20)}`
      rows.push(eventRow({
        tenant: "acme", messageId, type: "track", event: "Viewed", anonymousId: anon,
        userId: "", groupId: "", previousId: "", channel: "web", source: "segment", timestamp: ts, originalTimestamp: null,
        sentAt: null, receivedAt: ts, properties: { product: `p${i % 100}` }, traits: {}, context: {}, extra: {},
        identifiers: [], text: "", profileId: anon,
      } as never))
      observations.push({
        tenant: "acme", message_id: messageId, timestamp: chDateTime(ts), observed_at: observedAt, refused: [],
        sightings: [{ kind: "anonymous_id", value: anon, raw: anon, trust: "verified" }],
      })
      // The same observation under its identifier, as warehouse/identity.ts storeIdentity writes it (034).
      sightings.push({
        tenant: "acme", kind: "anonymous_id", value: anon, message_id: messageId, timestamp: chDateTime(ts), observed_at: observedAt,
        sightings: [{ kind: "anonymous_id", value: anon, trust: "verified" }],
      })
    }
    yield* w.insert("event_rows", rows)
    yield* w.insert("identity_observations", observations)
    yield* w.insert("identity_sightings", sightings)
  }
}).pipe(Effect.provide(Warehouse.embedded(join(dir, "clickhouse"))), Effect.provide(Logger.layer([])))

const rssGb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024 / 1024

/** What the start's log says of the identity graph: loaded from which snapshot, or why none was used. */
const identityLine = (stdout: string): string => {
  for (const line of stdout.split("\n")) {
    if (!line.includes("identity graph loaded") && !line.includes("identity snapshot not used")) continue
    try {
      const message = (JSON.parse(line) as { message?: unknown }).message
      return String(Array.isArray(message) ? message.join(" ") : message)
    } catch {
      return line
    }
  }
  return "(no identity line)"
}

/**
 * Starts a command on the data dir, times it to its ready line, reads its RSS then and 3 s later, stops it; with the
 * line its log gave on the identity graph (from a snapshot, or why not).
 */
const start = async (args: ReadonlyArray<string>, ready: RegExp, env: Record<string, string> = {}, dataDir = dir) => {
  const started = performance.now()
  const child = spawn(process.execPath, [CDP_BIN, ...args, "--data-dir", dataDir], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } })
  let err = ""
  let out = ""
  child.stdout.on("data", (d: Buffer) => { out += d })
  await new Promise<void>((resolve, reject) => {
    child.stderr.on("data", (d: Buffer) => { err += d; if (ready.test(err)) resolve() })
    child.once("exit", (c) => reject(new Error(`cdp ${args[0]} exited ${c}: ${err.slice(-500)}`)))
  })
  const seconds = (performance.now() - started) / 1000
  const atReady = rssGb(child.pid!)
  await new Promise((r) => setTimeout(r, 3000))
  const after = rssGb(child.pid!)
  await new Promise<void>((r) => { child.removeAllListeners("exit"); child.once("exit", () => r()); child.kill("SIGTERM") })
  return { seconds, rss: Math.max(atReady, after), identity: identityLine(out) }
}

if (!existsSync(join(dir, "filled"))) {
  const t = performance.now()
  await Effect.runPromise(fill())
  writeFileSync(join(dir, "filled"), String(events))
  process.stdout.write(`filled ${events.toLocaleString("en")} events and their identity observations in ${((performance.now() - t) / 1000).toFixed(1)} s\n`)
}
const landed = Number(readFileSync(join(dir, "filled"), "utf8"))
process.stdout.write(`restart benchmark: ${landed.toLocaleString("en")} events landed, ${BROWSERS.toLocaleString("en")} browsers; ` +
  `${availableParallelism()} cores, load ${loadavg()[0]!.toFixed(1)}\n\n| start | ready in s | RSS GB | identity graph (its log line) |\n|---|---:|---:|---|\n`)
const serve = ["serve", "--port", "0", "--write-key", "wk_m=acme"]
const row = (name: string, r: { seconds: number; rss: number; identity: string }) =>
  process.stdout.write(`| ${name} | ${r.seconds.toFixed(2)} | ${r.rss.toFixed(2)} | ${r.identity} |\n`)
// What a start costs with nothing landed, for comparison at the same load.
const empty = freshDir("cdp-bench-restart-empty-")
row("cdp serve, empty data dir", await start(serve, /listening on/, {}, empty))
// The first start after filling has no snapshot (unless a kept DATA_DIR has one from an earlier run).
row("cdp serve, first start (writes the snapshot when it stops)", await start(serve, /listening on/))
for (let run = 1; run <= 2; run++) row(`cdp serve, restart ${run}`, await start(serve, /listening on/))
if (brokers !== undefined && brokers !== "") {
  const prefix = `restart${randomUUID().slice(0, 8)}.`
  const env = { CDP_BUS: "kafka", CDP_KAFKA_PREFIX: prefix }
  row("cdp worker, empty data dir (CDP_BUS=kafka)", await start(["worker"], /cdp worker consuming/, env, empty))
  for (let run = 1; run <= 2; run++) row(`cdp worker, start ${run} (CDP_BUS=kafka)`, await start(["worker"], /cdp worker consuming/, env))
  const admin = new kafkajs.Kafka({ brokers: brokers.split(","), logLevel: kafkajs.logLevel.NOTHING }).admin()
  await admin.connect()
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix))
  if (topics.length > 0) await admin.deleteTopics({ topics })
  await admin.disconnect()
} else process.stdout.write("(cdp worker not measured: CDP_KAFKA_BROKERS is unset)\n")
process.stdout.write(`load after: ${loadavg()[0]!.toFixed(1)}\n`)
removeDir(empty)
if (given === undefined) removeDir(dir)
