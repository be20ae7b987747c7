// Kafka path benchmark (needs CDP_KAFKA_BROKERS, e.g. eval "$(deploy/services/up)"; skipped without it): realistic
// Segment messages published to the events topic and landed by 1, 2 and 3 pipeline members (consumer-group members
// in this process, sharing one embedded warehouse, as N workers share a ClickHouse server), against the raw ceiling
// measured in the same run: the same records produced to and consumed from Kafka with no processing, and the same
// rows inserted straight into the warehouse. Run by `npm run bench`; not part of the tests.
import { randomUUID } from "node:crypto"
import { readdirSync, readFileSync } from "node:fs"
import { availableParallelism, cpus, homedir, loadavg } from "node:os"
import { join } from "node:path"
import { Context, Effect, Layer, Logger } from "effect"
import kafkajs from "kafkajs"
import { defaultIdentityConfig } from "../../identity/index.ts"
import { type KafkaBusOptions, kafkaBus, makeKafkaBus } from "../../ingest/bus-kafka.ts"
import { encryptedKafkaBus, makeBusCodec, warehouseKeyStore } from "../../ingest/bus-crypto.ts"
import { makeKeys } from "../../consent/keys.ts"
import { Topics } from "../../ingest/bus.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { normaliseSegmentMessage, type SegmentMessage } from "../../ingest/sources/segment.ts"
import { eventRow } from "../../warehouse/sink.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { messageLine } from "./http-load.ts"

const brokers = process.env["CDP_KAFKA_BROKERS"]
const TOTAL = Number(process.env["BENCH_KAFKA_MESSAGES"] ?? 100_000)
/** Member counts of the end-to-end runs (BENCH_KAFKA_MEMBERS=1 for quick A/B runs), and whether the encrypted runs run. */
const MEMBERS = (process.env["BENCH_KAFKA_MEMBERS"] ?? "1,2,3").split(",").map(Number).filter((n) => n >= 1)
const ENCRYPTED = process.env["BENCH_KAFKA_ENCRYPTED"] !== "off"
const CHUNK = 5_000
const quiet = Logger.layer([])

const prefixes: Array<string> = []
const options = (): KafkaBusOptions => {
  const prefix = `bench${randomUUID().slice(0, 8)}.`
  prefixes.push(prefix)
  return { brokers: (brokers ?? "").split(","), prefix, partitions: 6, replication: 1, retentionMs: 3_600_000 }
}

/** The bench's topics are deleted afterwards, so repeated runs do not fill the broker's disk. */
const dropTopics = async () => {
  const admin = new kafkajs.Kafka({ brokers: (brokers ?? "").split(","), logLevel: kafkajs.logLevel.NOTHING }).admin()
  await admin.connect()
  const topics = (await admin.listTopics()).filter((t) => prefixes.some((p) => t.startsWith(p)))
  if (topics.length > 0) await admin.deleteTopics({ topics })
  await admin.disconnect()
}

const receive = { tenant: "default", receivedAtMs: Date.now(), correctClockSkew: true }
const events: Array<CanonicalEvent> = Array.from({ length: TOTAL }, (_, i) => normaliseSegmentMessage(JSON.parse(messageLine(i)) as SegmentMessage, receive))

const seconds = (t: number) => (performance.now() - t) / 1000

/**
 * CPU seconds used so far by this process and by the broker deploy/services/up started (from its pid file; 0 when
 * the broker runs elsewhere). Wall time on a shared 2-core machine follows the load; CPU per event shows what a
 * change saves.
 */
const brokerPidFile = join(process.env["CDP_SVC_DIR"] ?? join(homedir(), ".cache", "cdp", "services"), "kafka.pid")
const brokerCpu = () => {
  try {
    const fields = readFileSync(`/proc/${readFileSync(brokerPidFile, "utf8").trim()}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return 0
  }
}
const cpuNow = () => {
  const own = process.cpuUsage()
  return { own: (own.user + own.system) / 1e6, broker: brokerCpu() }
}
const cpuSince = (before: { own: number; broker: number }) => {
  const after = cpuNow()
  return { own: after.own - before.own, broker: after.broker - before.broker }
}
/** CPU seconds of the last end-to-end run's timed part: this process, and the broker. */
let lastEndToEndCpu = { own: 0, broker: 0 }

/**
 * CPU seconds so far of this process's threads by kind (Linux; none elsewhere): the main thread runs JavaScript,
 * V8Worker threads garbage collection beside it, libuv-worker threads each embedded-engine statement (and zstd), and
 * ThreadPool threads the engine's own work inside an insert.
 */
const threadCpu = () => {
  const byKind = new Map<string, number>()
  try {
    for (const tid of readdirSync("/proc/self/task")) {
      try {
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8")
        const kind = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/[0-9]+$/, "")
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
        byKind.set(kind, (byKind.get(kind) ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100)
      } catch {
        // The thread ended meanwhile.
      }
    }
  } catch {
    // No /proc.
  }
  return byKind
}
/** CPU µs per event by thread kind in the last end-to-end run's timed part (the largest first). */
let lastThreadSplit = ""

/** Produce every record (timed), then consume them all with a handler that does nothing (timed). */
const kafkaCeiling = Effect.scoped(Effect.gen(function* () {
  const bus = yield* makeKafkaBus(options())
  let t = performance.now()
  let c = cpuNow()
  for (let i = 0; i < TOTAL; i += CHUNK) yield* bus.publish(Topics.events, events.slice(i, i + CHUNK))
  const produce = seconds(t)
  const produceCpu = cpuSince(c)
  let seen = 0
  t = performance.now()
  c = cpuNow()
  yield* bus.consume(Topics.events, (batch) => Effect.sync(() => { seen += batch.length }))
  while (seen < TOTAL) yield* Effect.sleep("20 millis")
  return { produce, consume: seconds(t), produceCpu, consumeCpu: cpuSince(c) }
}))

/**
 * The same, with record values encrypted per person key as a deployment runs by default (CDP_KAFKA_ENCRYPTION=on):
 * data keys made on first use and stored in the embedded warehouse, then read back by a consumer with an empty cache.
 */
const kafkaCeilingEncrypted = (dir: string) => Effect.scoped(Effect.gen(function* () {
  const warehouse = yield* Warehouse
  const keys = makeKeys(new Uint8Array(32).fill(1))
  const o = options()
  const bus = yield* makeKafkaBus({ ...o, codec: makeBusCodec(keys, warehouseKeyStore(warehouse)) })
  let t = performance.now()
  for (let i = 0; i < TOTAL; i += CHUNK) yield* bus.publish(Topics.events, events.slice(i, i + CHUNK))
  const produce = seconds(t)
  // Another process's cache: every key is read from the warehouse once.
  const reader = yield* makeKafkaBus({ ...o, codec: makeBusCodec(keys, warehouseKeyStore(warehouse)) })
  let seen = 0
  t = performance.now()
  yield* reader.consume(Topics.events, (batch) => Effect.sync(() => { seen += batch.length }))
  while (seen < TOTAL) yield* Effect.sleep("20 millis")
  return { produce, consume: seconds(t) }
}).pipe(Effect.provide(Warehouse.embedded(join(dir, "clickhouse")))))

/** The same rows inserted straight into the embedded engine, in batches of the size a worker lands. */
const insertCeiling = (dir: string) => Effect.scoped(Effect.gen(function* () {
  const warehouse = yield* Warehouse
  const t = performance.now()
  const c = cpuNow()
  for (let i = 0; i < TOTAL; i += CHUNK) {
    yield* warehouse.insert("event_rows", events.slice(i, i + CHUNK).map((e) => eventRow({ ...e, profileId: e.userId || e.anonymousId })))
  }
  return { seconds: seconds(t), cpu: cpuSince(c) }
}).pipe(Effect.provide(Warehouse.embedded(join(dir, "clickhouse")))))

/** Publish everything while `members` pipelines consume; timed until every event is in the warehouse. */
const endToEnd = (members: number, dir: string, encrypted = false) => {
  const o = options()
  const member = Pipeline.make({ identity: defaultIdentityConfig() }).pipe(
    Layer.provideMerge(encrypted ? encryptedKafkaBus(o, makeKeys(new Uint8Array(32).fill(1))) : kafkaBus(o)))
  const shared = Layer.mergeAll(Warehouse.embedded(join(dir, "clickhouse")), ObjectStore.local(join(dir, "objects")))
  return Effect.scoped(Effect.gen(function* () {
    const warehouse = yield* Warehouse
    const first = yield* Layer.build(member)
    for (let m = 1; m < members; m++) yield* Layer.build(member)
    const pipeline = Context.get(first, Pipeline)
    // Members join before the clock starts, as running workers would have.
    yield* Effect.sleep("3 seconds")
    const t = performance.now()
    const c = cpuNow()
    const threads = threadCpu()
    yield* Effect.forEach(Array.from({ length: Math.ceil(TOTAL / CHUNK) }, (_, i) => i),
      (i) => pipeline.submit(events.slice(i * CHUNK, (i + 1) * CHUNK), [], { archive: false }), { concurrency: 4, discard: true })
    for (;;) {
      const [row] = yield* warehouse.query<{ n: string }>("SELECT count() AS n FROM event_rows")
      if (Number(row!.n) >= TOTAL) break
      yield* Effect.sleep("100 millis")
    }
    const after = cpuNow()
    lastEndToEndCpu = { own: after.own - c.own, broker: after.broker - c.broker }
    lastThreadSplit = [...threadCpu()].map(([kind, s]) => [kind, ((s - (threads.get(kind) ?? 0)) * 1e6) / TOTAL] as const)
      .filter(([, us]) => us >= 1).sort((a, b) => b[1] - a[1]).map(([kind, us]) => `${kind} ${Math.round(us)}`).join(", ")
    return seconds(t)
  }).pipe(Effect.provide(shared)))
}

if (brokers === undefined || brokers === "") {
  process.stdout.write("kafka benchmark skipped: CDP_KAFKA_BROKERS is unset (eval \"$(deploy/services/up)\" first)\n")
} else {
  const cores = availableParallelism()
  process.stdout.write(`kafka benchmark: ${TOTAL.toLocaleString("en")} Segment messages, 6 partitions, identity on; ` +
    `${cores} cores (${cpus()[0]?.model ?? "?"}), Node ${process.versions.node} ${process.execArgv.join(" ")}, load average ${loadavg()[0]!.toFixed(1)}\n`)
  const cpu = new Map<string, { own: number; broker: number }>()
  const split: Array<string> = []
  const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect.pipe(Effect.provide(quiet)))
  const ceil = await run(kafkaCeiling)
  const encDir = freshDir("cdp-bench-kafka-")
  const enc = ENCRYPTED ? await run(kafkaCeilingEncrypted(encDir)) : undefined
  removeDir(encDir)
  const dir = freshDir("cdp-bench-kafka-")
  const insert = await run(insertCeiling(dir))
  removeDir(dir)
  const rate = (s: number) => Math.round(TOTAL / s)
  const ceilingSeconds = ceil.produce + ceil.consume + insert.seconds
  const rows: Array<readonly [string, number]> = [
    ["ceiling: produce to Kafka (acks=all)", ceil.produce],
    ["ceiling: consume from Kafka, no processing", ceil.consume],
    ["ceiling: insert the rows straight into the warehouse", insert.seconds],
    ["ceiling: the three one after another", ceilingSeconds],
  ]
  cpu.set(rows[0]![0], ceil.produceCpu)
  cpu.set(rows[1]![0], ceil.consumeCpu)
  cpu.set(rows[2]![0], insert.cpu)
  cpu.set(rows[3]![0], [ceil.produceCpu, ceil.consumeCpu, insert.cpu].reduce((a, b) => ({ own: a.own + b.own, broker: a.broker + b.broker })))
  const encryptedRows: Array<readonly [string, number]> = enc === undefined ? [] : [
    ["encrypted: produce to Kafka (acks=all)", enc.produce],
    ["encrypted: consume and decrypt, no processing", enc.consume],
  ]
  for (const members of MEMBERS) {
    const d = freshDir("cdp-bench-kafka-")
    const name = `end to end: publish -> ${members} member${members > 1 ? "s" : ""} -> warehouse`
    rows.push([name, await run(endToEnd(members, d))])
    cpu.set(name, lastEndToEndCpu)
    split.push(`${name}: ${lastThreadSplit}`)
    removeDir(d)
  }
  if (ENCRYPTED) {
    const d1 = freshDir("cdp-bench-kafka-")
    encryptedRows.push(["encrypted: end to end, publish -> 1 member -> warehouse", await run(endToEnd(1, d1, true))])
    cpu.set(encryptedRows[encryptedRows.length - 1]![0], lastEndToEndCpu)
    split.push(`${encryptedRows[encryptedRows.length - 1]![0]}: ${lastThreadSplit}`)
    removeDir(d1)
  }
  process.stdout.write(`\n| measure | seconds | events/s | CPU µs/event (this process + broker) |\n|---|---:|---:|---:|\n`)
  const perEvent = (seconds: number) => Math.round((seconds * 1e6) / TOTAL)
  for (const [name, s] of [...rows, ...encryptedRows]) {
    const used = cpu.get(name)
    const shown = used === undefined ? "–" : `${perEvent(used.own + used.broker)} (${perEvent(used.own)} + ${perEvent(used.broker)})`
    process.stdout.write(`| ${name} | ${s.toFixed(2)} | ${rate(s).toLocaleString("en")} | ${shown} |\n`)
  }
  if (split.some((line) => !line.endsWith(": "))) process.stdout.write(`\nthis process's CPU µs/event by thread:\n${split.map((line) => `- ${line}`).join("\n")}\n`)
  const best = Math.min(...rows.slice(4).map(([, s]) => s))
  await dropTopics()
  process.stdout.write(`\nbest end-to-end / ceiling = ${(ceilingSeconds / best).toFixed(2)}  (targets: >= 25,000 events/s on 2 cores, >= 0.5); load average ${loadavg()[0]!.toFixed(1)}\n`)
}
