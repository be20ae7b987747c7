// The benches' HTTP load: Segment messages (realistic samples, each with its own messageId) sent as batches to a real
// `cdp serve` until every one is answered 2xx (a 2xx means landed and queryable), with the CPU both sides used.
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { Agent, request } from "node:http"
import { CDP_BIN, REPO_ROOT, runCdp } from "../support/cli.ts"

export const BATCH = 500
export const KEY = "wk_bench"

export const templates = readFileSync(new URL("../../ingest/samples/web.ndjson", import.meta.url), "utf8").split("\n").filter((l) => l !== "")
const MESSAGE_ID = /"messageId":"[^"]*"/

/** Message i: a realistic sample message with its own messageId (cheap: no JSON round trip on the client). */
export const messageLine = (i: number) => templates[i % templates.length]!.replace(MESSAGE_ID, `"messageId":"bench-${i}"`)

const batchBody = (start: number, total: number) => {
  const parts: Array<string> = []
  for (let i = start; i < Math.min(start + BATCH, total); i++) parts.push(messageLine(i))
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

export interface Server {
  readonly url: string
  readonly cpuSeconds: () => number
  readonly stop: () => Promise<void>
}

/** `cdp serve` on a data dir, with `env` added to this environment. BENCH_SERVER_NODE_ARGS (e.g. "--cpu-prof") profiles it. */
export const startServer = (dataDir: string, env: Record<string, string> = {}) =>
  new Promise<Server>((resolve, reject) => {
    const nodeArgs = (process.env["BENCH_SERVER_NODE_ARGS"] ?? "").split(" ").filter((a) => a !== "")
    const child = spawn(process.execPath, [...nodeArgs, CDP_BIN, "serve", "--port", "0", "--data-dir", dataDir, "--write-key", KEY], {
      cwd: REPO_ROOT, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env },
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

export interface LoadResult {
  readonly seconds: number
  readonly accepted: number
  readonly serverCpu: number
  readonly clientCpu: number
}

/** Sends messages 0..total-1 with `concurrency` requests in flight; times until the last is answered. */
export const sendLoad = async (server: Server, total: number, concurrency: number): Promise<LoadResult> => {
  const auth = `Basic ${Buffer.from(`${KEY}:`).toString("base64")}`
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
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
    while (next < total) {
      const start = next
      next += BATCH
      const res = await postBatch(batchBody(start, total))
      if (res.status !== 200) throw new Error(`batch at ${start}: HTTP ${res.status} ${res.text.slice(0, 300)}`)
      accepted += (JSON.parse(res.text) as { accepted?: number }).accepted ?? 0
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const seconds = (performance.now() - started) / 1000
  const serverCpu = server.cpuSeconds() - serverCpuBefore
  const clientUsage = process.cpuUsage(clientCpuBefore)
  agent.destroy()
  return { seconds, accepted, serverCpu, clientCpu: (clientUsage.user + clientUsage.system) / 1e6 }
}

/** Rows `events` shows in a data dir, through `cdp query` (the server must be stopped; chDB opens one data dir a process). */
export const countEvents = (dataDir: string): number => {
  const r = runCdp(["query", "SELECT count() AS n FROM events", "--data-dir", dataDir])
  if (r.status !== 0) throw new Error(`cdp query: ${r.stderr}`)
  return Number((JSON.parse(r.stdout) as { n: string }).n)
}
