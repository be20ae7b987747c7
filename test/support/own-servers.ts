// Servers of a test's own, to stop and start again for an outage without touching the shared ones of
// deploy/services/up: a single-node Kafka broker (KRaft) from the jars `up` resolved, and a MinIO from the binary `up`
// built, each on free ports with a temp dir. With CDP_INTEGRATION=1 a missing jar dir or binary fails the test with
// how to get them (run deploy/services/up once), never a skip.
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { homedir, tmpdir } from "node:os"
import { join } from "node:path"

const servicesDir = () => process.env["CDP_SVC_DIR"] ?? join(homedir(), ".cache/cdp/services")

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A port free now on 127.0.0.1. */
const freePort = () => new Promise<number>((resolve) => {
  const server = createServer().listen(0, "127.0.0.1", () => {
    const port = (server.address() as { port: number }).port
    server.close(() => resolve(port))
  })
})

/** Waits for `ready` while `child` runs; fails with the tail of its log after `ms`. */
const waitFor = async (what: string, child: ChildProcess, log: () => string, ready: () => boolean | Promise<boolean>, ms: number) => {
  const end = Date.now() + ms
  while (!(await ready())) {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited: ${log().slice(-2000)}`)
    if (Date.now() > end) throw new Error(`${what} not ready after ${ms / 1000} s: ${log().slice(-2000)}`)
    await sleep(100)
  }
}

/** A server process of the test's own: stopped by its pid (its process group), never by name. */
export interface OwnServer {
  /** SIGKILL: the process dies at once, as after a crash; `start` brings it back on the same ports and data. */
  readonly kill: () => Promise<void>
  /** SIGSTOP / SIGCONT: it keeps its connections but answers nothing (a hung server). */
  readonly freeze: () => void
  readonly thaw: () => void
  readonly start: () => Promise<void>
  /** Kills it and removes its data. */
  readonly remove: () => Promise<void>
}

const ownProcess = (name: string, dir: string, command: string, args: ReadonlyArray<string>, env: Record<string, string>,
  ready: (log: () => string) => boolean | Promise<boolean>) => {
  let child: ChildProcess | undefined
  let output = ""
  const log = () => output
  const start = async () => {
    output = ""
    child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true, cwd: dir })
    const pid = child.pid!
    // Never left behind (stopped, or running) when the test process ends without its clean-up.
    const reap = () => {
      try {
        process.kill(-pid, "SIGCONT")
        process.kill(-pid, "SIGKILL")
      } catch {
        // Gone already.
      }
    }
    process.once("exit", reap)
    child.once("exit", () => process.off("exit", reap))
    const keep = (d: Buffer) => { output = (output + d.toString()).slice(-20_000) }
    // A binary that cannot start (missing) is reported by waitFor with this in the log, not as an uncaught error.
    child.on("error", (e) => keep(Buffer.from(`cannot start ${command}: ${e.message}\n`)))
    child.stdout!.on("data", keep)
    child.stderr!.on("data", keep)
    await waitFor(name, child, log, () => ready(log), 60_000)
  }
  const signal = (s: NodeJS.Signals) => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(-child.pid, s)
  }
  const kill = async () => {
    const c = child
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise((r) => c.once("exit", r))
    signal("SIGCONT")
    signal("SIGKILL")
    await exited
  }
  return {
    start, kill,
    freeze: () => signal("SIGSTOP"),
    thaw: () => signal("SIGCONT"),
    remove: async () => {
      await kill()
      rmSync(dir, { recursive: true, force: true })
    },
  } satisfies OwnServer
}

/** A Kafka broker of the test's own (4.4.0, as deploy/services/kafka.sh runs it); `brokers` is its address. */
export const ownKafka = async (): Promise<OwnServer & { readonly brokers: Array<string> }> => {
  const libs = join(servicesDir(), "kafka/libs")
  if (!existsSync(join(libs, ".version"))) {
    throw new Error(`no Kafka jars at ${libs}: run eval "$(deploy/services/up)" once first (it resolves them)`)
  }
  const dir = mkdtempSync(join(tmpdir(), "cdp-own-kafka-"))
  const port = await freePort()
  let controller = await freePort()
  while (controller === port) controller = await freePort()
  writeFileSync(join(dir, "server.properties"), [
    "process.roles=broker,controller", "node.id=1", `controller.quorum.voters=1@127.0.0.1:${controller}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`, "inter.broker.listener.name=PLAINTEXT",
    "controller.listener.names=CONTROLLER", "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    `log.dirs=${join(dir, "data")}`, "num.partitions=1", "auto.create.topics.enable=false",
    "offsets.topic.replication.factor=1", "offsets.topic.num.partitions=1", "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1", "group.initial.rebalance.delay.ms=0",
    // A restart after a kill waits for the dead process's broker session to expire (9 s by default) before it serves.
    "broker.heartbeat.interval.ms=500", "broker.session.timeout.ms=1500", "",
  ].join("\n"))
  writeFileSync(join(dir, "log4j2.properties"), [
    "appender.o.type=Console", "appender.o.name=O", "appender.o.layout.type=PatternLayout", "appender.o.layout.pattern=%p %m%n",
    "rootLogger.level=INFO", "rootLogger.appenderRef.o.ref=O", "logger.kc.name=kafka.server.KafkaConfig", "logger.kc.level=WARN", "",
  ].join("\n"))
  const java = ["-Xms64m", "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", `-Dlog4j2.configurationFile=${join(dir, "log4j2.properties")}`, "-cp", `${libs}/*`]
  // A fixed cluster id: formatting needs one, and this broker is alone.
  const format = spawn("java", [...java, "kafka.tools.StorageTool", "format", "-t", "cdpOwnTestCluster0000A", "-c", join(dir, "server.properties")], { stdio: "ignore" })
  const formatted = await new Promise<number | string | null>((r) => {
    format.on("exit", r)
    format.on("error", (e) => r(e.message))
  })
  if (formatted !== 0) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`formatting the own Kafka broker's log dir failed (${formatted}); is java installed? (deploy/services/up needs it too)`)
  }
  const server = ownProcess("own Kafka broker", dir, "java", [...java, "kafka.Kafka", join(dir, "server.properties")], {},
    (log) => log().includes("Kafka Server started"))
  await server.start().catch(async (e: unknown) => {
    await server.remove()
    throw e
  })
  return { ...server, brokers: [`127.0.0.1:${port}`] }
}

/** A MinIO of the test's own (the binary deploy/services/up built), with the shared one's credentials. */
export const ownMinio = async (): Promise<OwnServer & { readonly endpoint: string }> => {
  const binary = join(servicesDir(), "minio/minio")
  if (!existsSync(binary)) throw new Error(`no MinIO binary at ${binary}: run eval "$(deploy/services/up)" once first (it builds it)`)
  const dir = mkdtempSync(join(tmpdir(), "cdp-own-minio-"))
  const port = await freePort()
  let console = await freePort()
  while (console === port) console = await freePort()
  const endpoint = `http://127.0.0.1:${port}`
  const server = ownProcess("own MinIO", dir, binary,
    ["server", join(dir, "data"), "--address", `127.0.0.1:${port}`, "--console-address", `127.0.0.1:${console}`, "--quiet"], {
      MINIO_ROOT_USER: process.env["CDP_S3_ACCESS_KEY_ID"] ?? "cdpadmin",
      MINIO_ROOT_PASSWORD: process.env["CDP_S3_SECRET_ACCESS_KEY"] ?? "cdpadmin-secret",
      MINIO_BROWSER: "off", MINIO_UPDATE: "off",
    },
    () => fetch(`${endpoint}/minio/health/ready`).then((r) => r.ok, () => false))
  await server.start().catch(async (e: unknown) => {
    await server.remove()
    throw e
  })
  return { ...server, endpoint }
}
