// Pipeline benchmark: Segment messages sent as HTTP batches to a real `cdp serve` (embedded defaults) until every
// one is answered 2xx (a 2xx means landed and queryable), against the ceiling of inserting the same rows straight
// into the embedded engine in one process. Run by `npm run bench`; not part of the tests.
import { availableParallelism, cpus } from "node:os"
import { Effect, Logger } from "effect"
import { normaliseSegmentMessage, type SegmentMessage } from "../../ingest/sources/segment.ts"
import { eventRow } from "../../warehouse/sink.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { BATCH, countEvents, messageLine, sendLoad, startServer } from "./http-load.ts"

const TOTAL = Number(process.env["BENCH_MESSAGES"] ?? 1_000_000)
const CONCURRENCY = Number(process.env["BENCH_CONCURRENCY"] ?? 16)
const CEILING_BATCH = 50_000

const endToEnd = async () => {
  const dataDir = freshDir("cdp-bench-e2e-")
  const server = await startServer(dataDir)
  const load = await sendLoad(server, TOTAL, CONCURRENCY)
  await server.stop()
  // Count what landed (outside the timing): every 2xx must be there.
  const landed = countEvents(dataDir)
  removeDir(dataDir)
  return { ...load, landed }
}

/** The same rows inserted straight into the embedded engine, in one process, in large batches (only inserts timed). */
const ceiling = () =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    const receive = { tenant: "default", receivedAtMs: Date.now(), correctClockSkew: true }
    let insertSeconds = 0
    for (let start = 0; start < TOTAL; start += CEILING_BATCH) {
      const rows = []
      const events = []
      for (let i = start; i < Math.min(start + CEILING_BATCH, TOTAL); i++) {
        events.push(normaliseSegmentMessage(JSON.parse(messageLine(i)) as SegmentMessage, receive))
      }
      // The ceiling inserts the same rows with no stage at all (a profile id is any id the rows would have).
      for (const e of events) rows.push(eventRow({ ...e, profileId: e.userId || e.anonymousId }))
      const t = performance.now()
      yield* warehouse.insert("event_rows", rows)
      insertSeconds += (performance.now() - t) / 1000
    }
    const [row] = yield* warehouse.query<{ n: string }>("SELECT count() AS n FROM events")
    return { seconds: insertSeconds, landed: Number(row!.n) }
  })

const runCeiling = async () => {
  const dir = freshDir("cdp-bench-ceiling-")
  const result = await Effect.runPromise(
    ceiling().pipe(Effect.scoped, Effect.provide(Warehouse.embedded(`${dir}/clickhouse`)), Effect.provide(Logger.layer([]))),
  )
  removeDir(dir)
  return result
}

const cores = availableParallelism()
process.stdout.write(`pipeline benchmark: ${TOTAL.toLocaleString("en")} Segment messages, batches of ${BATCH}, ` +
  `${CONCURRENCY} concurrent requests; ${cores} cores (${cpus()[0]?.model ?? "?"}), Node ${process.versions.node}\n`)
const e2e = await endToEnd()
const ceil = await runCeiling()
const e2eRate = e2e.landed / e2e.seconds
const ceilRate = ceil.landed / ceil.seconds
const rows = [
  ["HTTP batch -> queryable rows (cdp serve)", e2e.landed, e2e.seconds, e2eRate],
  ["ceiling: same rows inserted in-process", ceil.landed, ceil.seconds, ceilRate],
] as const
process.stdout.write(`\n| measure | rows | seconds | events/s |\n|---|---:|---:|---:|\n`)
for (const [name, n, s, rate] of rows) {
  process.stdout.write(`| ${name} | ${n.toLocaleString("en")} | ${s.toFixed(2)} | ${Math.round(rate).toLocaleString("en")} |\n`)
}
process.stdout.write(`\nCPU during the end-to-end run: cdp serve ${e2e.serverCpu.toFixed(1)} core-s, load generator ${e2e.clientCpu.toFixed(1)} core-s ` +
  `(of ${(e2e.seconds * cores).toFixed(1)} available on ${cores} cores)\n`)
process.stdout.write(`\nend-to-end / ceiling = ${(e2eRate / ceilRate).toFixed(2)}  (targets: >= 50,000 events/s on 2 cores, >= 0.5)\n`)
if (e2e.landed !== TOTAL || e2e.accepted !== TOTAL) {
  process.stdout.write(`WARNING: sent ${TOTAL}, answered accepted ${e2e.accepted}, landed ${e2e.landed}\n`)
  process.exitCode = 1
}
