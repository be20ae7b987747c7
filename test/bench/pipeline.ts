// Pipeline benchmark: Segment messages sent as HTTP batches to a real `cdp serve` (embedded defaults) until every
// one is answered 2xx (a 2xx means landed and queryable), against the ceiling of inserting the same rows straight
// into the embedded engine in one process. Run by `npm run bench`; not part of the tests.
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { availableParallelism, cpus } from "node:os"
import { Effect, Logger } from "effect"
import { Agent, request } from "node:http"
import { normaliseSegmentMessage, type SegmentMessage } from "../../ingest/sources/segment.ts"
import { eventRow } from "../../warehouse/sink.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { CDP_BIN, REPO_ROOT } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const TOTAL = Number(process.env["BENCH_MESSAGES"] ?? 1_000_000)
const BATCH = 500
const CONCURRENCY = Number(process.env["BENCH_CONCURRENCY"] ?? 16)
const KEY = "wk_bench"
const CEILING_BATCH = 50_000

const templates = readFileSync(new URL("../../ingest/samples/web.ndjson", import.meta.url), "utf8").split("\n").filter((l) => l !== "")
const MESSAGE_ID = /"messageId":"[^"]*"/

/** Message i: a realistic sample message with its own messageId (cheap: no JSON round trip on the client). */
const messageLine = (i: number) => templates[i % templates.length]!.replace(MESSAGE_ID, `"messageId":"bench-${i}"`)

const batchBody = (start: number) => {
  const parts: Array<string> = []
  for (let i = start; i < Math.min(start + BATCH, TOTAL); i++) parts.push(messageLine(i))
  return `{"batch":[${parts.join(",")}]}`
}

/** CPU time (user + system) a process has used so far, from /proc (Linux). */
const processCpuSeconds = (pid: number): number => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}

const startServer = (dataDir: string) =>
  new Promise<{ url: string; cpuSeconds: () => number; stop: () => Promise<void> }>((resolve, reject) => {
    // BENCH_SERVER_NODE_ARGS (e.g. "--cpu-prof") profiles the server side.
    const nodeArgs = (process.env["BENCH_SERVER_NODE_ARGS"] ?? "").split(" ").filter((a) => a !== "")
    const child = spawn(process.execPath, [...nodeArgs, CDP_BIN, "serve", "--port", "0", "--data-dir", dataDir, "--write-key", KEY], {
      cwd: REPO_ROOT, stdio: ["ignore", "ignore", "pipe"],
    })
    let err = ""
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(err)
      if (m) {
        resolve({
          url: m[1]!,
          cpuSeconds: () => processCpuSeconds(child.pid!),
          stop: () => new Promise((r) => { child.once("exit", () => r()); child.kill("SIGTERM") }),
        })
      }
    })
    child.once("exit", (code) => reject(new Error(`cdp serve exited ${code}: ${err}`)))
  })

const endToEnd = async () => {
  const dataDir = freshDir("cdp-bench-e2e-")
  const server = await startServer(dataDir)
  const auth = `Basic ${Buffer.from(`${KEY}:`).toString("base64")}`
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY })
  const postBatch = (body: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${server.url}/v1/batch`, {
        method: "POST", agent, headers: { authorization: auth, "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      }, (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }))
      })
      req.on("error", reject)
      req.end(body)
    })
  let next = 0
  let accepted = 0
  const serverCpuBefore = server.cpuSeconds()
  const clientCpuBefore = process.cpuUsage()
  const started = performance.now()
  const worker = async () => {
    while (next < TOTAL) {
      const start = next
      next += BATCH
      const res = await postBatch(batchBody(start))
      if (res.status !== 200) throw new Error(`batch at ${start}: HTTP ${res.status} ${res.text.slice(0, 300)}`)
      accepted += (JSON.parse(res.text) as { accepted?: number }).accepted ?? 0
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  const seconds = (performance.now() - started) / 1000
  const serverCpu = server.cpuSeconds() - serverCpuBefore
  const clientUsage = process.cpuUsage(clientCpuBefore)
  const clientCpu = (clientUsage.user + clientUsage.system) / 1e6
  agent.destroy()
  await server.stop()
  // Count what landed (outside the timing): every 2xx must be there.
  const landed = await Effect.runPromise(countEvents(dataDir))
  removeDir(dataDir)
  return { seconds, accepted, landed, serverCpu, clientCpu }
}

const countEvents = (dataDir: string) =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    const [row] = yield* warehouse.query<{ n: string }>("SELECT count() AS n FROM events")
    return Number(row!.n)
  }).pipe(Effect.scoped, Effect.provide(Warehouse.embedded(`${dataDir}/clickhouse`)), Effect.provide(Logger.layer([])))

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
