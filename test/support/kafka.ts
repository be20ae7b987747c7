// The Kafka broker the integration tests use: deploy/services/up exports CDP_KAFKA_BROKERS. With CDP_INTEGRATION=1 a
// missing broker fails the test with the line that says how to start one (never a skip). Also the set-up of tests that
// run real `cdp` processes on the Kafka path: start them, wait for the collector, clean up what they made.
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import { join } from "node:path"
import kafkajs from "kafkajs"
// For its patch of kafkajs's request queue (a negative timer that Node 24 warns about on every connection).
import "../../ingest/bus-kafka.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { removeDir } from "./pipeline.ts"

export const kafkaBrokers = (): Array<string> => {
  const list = process.env["CDP_KAFKA_BROKERS"]
  if (list === undefined || list === "") {
    throw new Error('CDP_INTEGRATION=1 needs a Kafka broker: run eval "$(deploy/services/up)" first (sets CDP_KAFKA_BROKERS)')
  }
  return list.split(",")
}

// ── Real `cdp` processes on the Kafka path (kafka-workers, kafka-audiences): start, wait, clean up ──────────────────

/** A page view of acme's user u1, as a stage topic carries events. */
export const viewedEvent = (messageId: string): CanonicalEvent => ({
  tenant: "acme", source: "segment", channel: "web", type: "track", event: "Viewed", messageId, anonymousId: "",
  userId: "u1", groupId: "", previousId: "", profileId: "", timestamp: "2026-01-02T03:04:05.000Z", originalTimestamp: null,
  sentAt: null, receivedAt: "2026-01-02T03:04:06.000Z", properties: {}, traits: {}, context: {}, extra: {}, identifiers: [],
  text: "",
})

export const CDP_BIN = join(import.meta.dirname, "../../bin/cdp.js")

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A port free now on 127.0.0.1 (for a collector started next). */
export const freePort = () => new Promise<number>((resolve) => {
  const server = createServer().listen(0, "127.0.0.1", () => {
    const port = (server.address() as { port: number }).port
    server.close(() => resolve(port))
  })
})

/** A started `cdp` process: its last 200 stderr chunks (the log shown when it fails), its stdout's last 5,000, its exit. */
export interface CdpProcess {
  readonly child: ChildProcess
  readonly log: Array<string>
  readonly out: Array<string>
  readonly exited: Promise<number | null>
}

const keep = (into: Array<string>, most: number) => (d: Buffer) => {
  into.push(d.toString())
  if (into.length > most) into.shift()
}

/** Starts `cdp ARGS` with these variables over the test's environment. */
export const startCdp = (args: ReadonlyArray<string>, env: Record<string, string>): CdpProcess => {
  const child = spawn(process.execPath, [CDP_BIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
  const log: Array<string> = []
  const out: Array<string> = []
  child.stderr!.on("data", keep(log, 200))
  // stdout carries the JSON log lines a test may look for (audiences refreshed): more of it is kept.
  child.stdout!.on("data", keep(out, 5_000))
  return { child, log, out, exited: new Promise((resolve) => child.on("exit", (code) => resolve(code))) }
}

/** Waits until the collector at `url` answers /health with 200; fails with its log if it exits or takes a minute. */
export const untilHealthy = async (url: string, p: CdpProcess): Promise<void> => {
  for (let i = 0; i < 600; i++) {
    if (p.child.exitCode !== null) throw new Error(`collector exited ${p.child.exitCode}: ${p.log.join("").slice(-2000)}`)
    if (await fetch(`${url}/health`).then((r) => r.status === 200, () => false)) return
    await sleep(100)
  }
  throw new Error(`collector not ready: ${p.log.join("").slice(-2000)}`)
}

/**
 * What a test over real processes and the real broker sets up, and removes in its afterAll: the processes it started
 * (killed), its topics (by its prefix), its admin client and its data dirs.
 */
export class KafkaScene {
  readonly dirs: Array<string> = []
  readonly procs: Array<CdpProcess> = []
  admin: kafkajs.Admin | undefined
  readonly prefix: string

  constructor(prefix: string) {
    this.prefix = prefix
  }

  /** Connects the admin client, failing with how to start a broker when there is none. */
  async connect(): Promise<kafkajs.Admin> {
    const brokers = kafkaBrokers()
    const admin = new kafkajs.Kafka({ brokers, logLevel: kafkajs.logLevel.NOTHING, connectionTimeout: 3000, retry: { retries: 2 } }).admin()
    await admin.connect().catch((e: Error) => {
      throw new Error(`no Kafka broker at ${brokers.join(",")} (${e.message}): run eval "$(deploy/services/up)" first`)
    })
    return this.admin = admin
  }

  start(args: ReadonlyArray<string>, env: Record<string, string>): CdpProcess {
    const p = startCdp(args, env)
    this.procs.push(p)
    return p
  }

  async cleanup(): Promise<void> {
    for (const p of this.procs) if (p.child.exitCode === null) p.child.kill("SIGKILL")
    if (this.admin !== undefined) {
      const topics = (await this.admin.listTopics()).filter((t) => t.startsWith(this.prefix))
      if (topics.length > 0) await this.admin.deleteTopics({ topics }).catch(() => undefined)
      await this.admin.disconnect()
    }
    for (const d of this.dirs) removeDir(d)
  }
}
