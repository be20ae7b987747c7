// Audiences stay current on the Kafka path: `cdp serve --edge-only` publishes, `cdp worker` lands and refreshes the
// audiences of its warehouse (the edge lands nothing, so it cannot), and the entry's `Audience Entered` event goes
// through the real broker's events topic and lands with the person. Runs when CDP_INTEGRATION=1 (eval "$(deploy/services/up)" first).
import { spawnSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { CDP_BIN, freePort, KafkaScene, sleep, untilHealthy } from "../support/kafka.ts"
import { basicAuth, freshDir } from "../support/pipeline.ts"

const enabled = process.env["CDP_INTEGRATION"] === "1"
const KEY = "wk_kafka_audiences"

describe.runIf(enabled)("audiences on the Kafka path", () => {
  const prefix = `aud${randomUUID().slice(0, 8)}.`
  const scene = new KafkaScene(prefix)
  afterAll(() => scene.cleanup())

  it("cdp serve --edge-only + cdp worker: a person who matches enters, recorded by the worker, and its event lands through the bus", async () => {
    const admin = await scene.connect()
    // Each process has its own embedded warehouse here, so the bus is not encrypted (see kafka-workers.test.ts).
    const env = { CDP_BUS: "kafka", CDP_KAFKA_BROKERS: process.env["CDP_KAFKA_BROKERS"]!, CDP_KAFKA_PREFIX: prefix, CDP_KAFKA_PARTITIONS: "2", CDP_WRITE_KEYS: `${KEY}=acme`, CDP_KAFKA_ENCRYPTION: "off" }
    const edgeDir = freshDir("cdp-edge-")
    const workerDir = freshDir("cdp-worker-")
    scene.dirs.push(edgeDir, workerDir)
    // The audience is made on the worker's data dir before the worker holds it.
    const made = spawnSync(process.execPath, [CDP_BIN, "audience", "create", "--tenant", "acme", "--name", "Pro plan", "--purpose", "EmailMarketing",
      "--condition", '{"trait": "plan", "equals": "pro"}', "--format", "json", "--data-dir", workerDir], { env: { ...process.env, ...env }, encoding: "utf8" })
    expect(made.status, made.stderr).toBe(0)
    const audienceId = (JSON.parse(made.stdout.trim()) as { id: string }).id
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const edge = scene.start(["serve", "--edge-only", "--port", String(port), "--data-dir", edgeDir], env)
    const worker = scene.start(["worker", "--data-dir", workerDir], env)
    await untilHealthy(url, edge)
    const res = await fetch(`${url}/v1/batch`, {
      method: "POST", headers: { authorization: basicAuth(KEY), "content-type": "application/json" },
      body: JSON.stringify({ batch: [
        { type: "identify", userId: "pro-1", messageId: "aud-pro-1", traits: { plan: "pro" }, timestamp: "2026-11-02T10:00:00.000Z" },
        { type: "identify", userId: "free-1", messageId: "aud-free-1", traits: { plan: "free" }, timestamp: "2026-11-02T10:00:00.000Z" },
      ] }),
    })
    expect(res.status).toBe(200)
    // The worker says (JSON log lines on stdout) when a refresh recorded entries.
    const deadline = Date.now() + 120_000
    const refreshed = () => worker.out.join("").split("\n").some((l) => l.includes("audiences refreshed") && /"entered":\s*1\b/.test(l))
    while (!refreshed() && Date.now() < deadline) {
      if (worker.child.exitCode !== null) throw new Error(`worker exited ${worker.child.exitCode}: ${worker.log.join("").slice(-2000)}`)
      await sleep(200)
    }
    expect(refreshed(), worker.out.join("").slice(-2000)).toBe(true)
    // Its Audience Entered event went onto the bus: wait until the worker has consumed everything published.
    const topic = `${prefix}events`
    const lag = async () => {
      const [ends, groups] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId: topic, topics: [topic] }).catch(() => [])])
      const committed = new Map((groups[0]?.partitions ?? []).map((p) => [p.partition, Math.max(0, Number(p.offset))]))
      return ends.reduce((n, p) => n + Number(p.high) - (committed.get(p.partition) ?? 0), 0)
    }
    while ((await lag()) > 0 && Date.now() < deadline) await sleep(200)
    worker.child.kill("SIGTERM")
    edge.child.kill("SIGTERM")
    expect(await Promise.all([worker.exited, edge.exited])).toEqual([0, 0])
    const { members, landed } = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const warehouse = yield* Warehouse
      return {
        members: yield* warehouse.query<{ user_id: string }>(
          "SELECT any(e.user_id) AS user_id FROM audience_members AS m INNER JOIN events AS e ON e.profile_id = m.profile_id " +
            "WHERE m.tenant = 'acme' AND m.audience_id = {a:String} AND e.user_id != '' GROUP BY m.profile_id", { params: { a: audienceId } }),
        landed: yield* warehouse.query<{ user_id: string; event: string }>(
          "SELECT user_id, event FROM events WHERE tenant = 'acme' AND event LIKE 'Audience %'"),
      }
    })).pipe(Effect.provide(Warehouse.embedded(join(workerDir, "clickhouse")))))
    expect(members.map((m) => m.user_id)).toEqual(["pro-1"])
    expect(landed).toEqual([{ user_id: "pro-1", event: "Audience Entered" }])
  }, 300_000)
})
