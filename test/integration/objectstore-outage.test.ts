// The S3 object store going away under a running `cdp serve` (in-process bus: the archive is written before a sender
// is answered): /health names the object store as the backend that is down, a sender is answered 503 with
// Retry-After (never 2xx for what is not archived), and when the store is back the server recovers by itself and
// every message is archived. MinIO is reached through a TCP proxy the test closes and opens again, so the shared
// MinIO of the other integration tests keeps running. Runs when CDP_INTEGRATION=1 (eval "$(deploy/services/up)" first).
import { randomUUID } from "node:crypto"
import { createConnection, createServer, type Server, type Socket } from "node:net"
import { gunzipSync } from "node:zlib"
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3"
import { afterAll, describe, it } from "vitest"
import { type CdpProcess, freePort, KafkaScene, kafkaBrokers, sleep, startCdp, untilHealthy } from "../support/kafka.ts"
import { basicAuth, freshDir, removeDir } from "../support/pipeline.ts"

const enabled = process.env["CDP_INTEGRATION"] === "1"
const KEY = "wk_outage"

/**
 * A TCP proxy to MinIO on a port of its own, which can be stopped (every connection cut) and started again, or made
 * to hang: connections it holds and new ones are taken but never answered (a network that drops packets), until
 * it forwards again (the connections that hung stay hung, as after a partition).
 */
const proxyTo = (target: URL) => {
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let hanging = false
  const hang = (on: boolean) => {
    hanging = on
    if (on) for (const s of sockets) s.pause()
  }
  const start = (port: number) => new Promise<void>((resolve, reject) => {
    server = createServer((client) => {
      if (hanging) {
        sockets.add(client)
        client.on("close", () => sockets.delete(client))
        client.on("error", () => undefined)
        client.pause()
        return
      }
      const upstream = createConnection({ host: target.hostname, port: Number(target.port) })
      for (const s of [client, upstream]) {
        sockets.add(s)
        s.on("close", () => sockets.delete(s))
        s.on("error", () => undefined)
      }
      client.pipe(upstream).pipe(client)
    })
    server.once("error", reject)
    server.listen(port, "127.0.0.1", () => resolve())
  })
  const stop = () => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy()
    if (server === undefined) resolve()
    else server.close(() => resolve())
  })
  return { start, stop, hang }
}

/** Empties and deletes a bucket a test made (the server may still write a manifest as it stops: tried twice). */
const dropBucket = async (s3: S3Client, bucket: string) => {
  for (let i = 0; i < 2; i++) {
    const listed = (await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []
    if (listed.length > 0) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: listed.map((o) => ({ Key: o.Key! })) } }))
    if (await s3.send(new DeleteBucketCommand({ Bucket: bucket })).then(() => true, () => false)) return
  }
}

interface Health {
  readonly ready: boolean
  readonly reasons: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<string>
  readonly backends: { readonly objects?: { readonly kind: string; readonly location: string; readonly state: string } }
}

// The three tests run at once: each has its own bucket, proxy, data dir and server, and most of each is spent waiting
// (the store's checks and the consumers' retries), not computing.
describe.runIf(enabled).concurrent("the object store failing under cdp serve", () => {
  const processes: Array<CdpProcess> = []
  const dirs: Array<string> = []
  afterAll(() => {
    for (const p of processes) p.child.kill("SIGKILL")
    for (const d of dirs) removeDir(d)
  })

  /**
   * A bucket of its own (named `name-...`) on the shared MinIO, a proxy to MinIO, and `cdp serve` (in-process bus
   * unless `env` says otherwise) archiving into the bucket through the proxy; `send(id)` posts a message with id
   * `name-id`.
   */
  const serveBehindProxy = async (name: string, env: Record<string, string> = { CDP_BUS: "memory" }) => {
    const endpoint = new URL(process.env["CDP_S3_ENDPOINT"]!)
    const credentials = { accessKeyId: process.env["CDP_S3_ACCESS_KEY_ID"]!, secretAccessKey: process.env["CDP_S3_SECRET_ACCESS_KEY"]! }
    const s3 = new S3Client({ endpoint: endpoint.origin, region: "us-east-1", forcePathStyle: true, credentials })
    const bucket = `cdp-${name}-${randomUUID().slice(0, 8)}`
    await s3.send(new CreateBucketCommand({ Bucket: bucket }))
    const proxy = proxyTo(endpoint)
    const proxyPort = await freePort()
    await proxy.start(proxyPort)
    const dir = freshDir(`cdp-${name}-`)
    dirs.push(dir)
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const serve = startCdp(["serve", "--port", String(port), "--data-dir", dir], {
      ...env, CDP_WRITE_KEYS: `${KEY}=acme`, CDP_S3_BUCKET: bucket, CDP_S3_ENDPOINT: `http://127.0.0.1:${proxyPort}`,
      CDP_S3_FORCE_PATH_STYLE: "true", CDP_S3_REGION: "us-east-1",
    })
    processes.push(serve)
    const send = (id: string) => fetch(`${url}/v1/track`, {
      method: "POST", headers: { authorization: basicAuth(KEY), "content-type": "application/json" },
      body: JSON.stringify({ userId: `u-${id}`, event: "Viewed", messageId: `${name}-${id}` }),
    }).then(async (r) => ({ status: r.status, retryAfter: r.headers.get("retry-after"), body: await r.json() as { rule?: string } }))
    const health = () => fetch(`${url}/health`).then(async (r) => ({ status: r.status, body: await r.json() as Health }))
    const done = async () => {
      await proxy.stop()
      serve.child.kill("SIGKILL")
      await dropBucket(s3, bucket).catch(() => undefined)
      s3.destroy()
    }
    return { s3, bucket, proxy, proxyPort, url, serve, send, health, done }
  }

  it("health names the object store while it is down, senders get 503 with Retry-After, and every message is archived once it is back", async ({ expect }) => {
    const { s3, bucket, proxy, proxyPort, url, serve, send, health, done } = await serveBehindProxy("outage")
    try {
      await untilHealthy(url, serve)
      const up = await health()
      expect(up.body.backends.objects).toEqual({ kind: "s3", location: `s3://${bucket}`, state: "up" })
      expect((await send("before")).status).toBe(200)

      await proxy.stop()
      // Before any sender notices: health asks the store itself.
      const down = await health()
      expect(down.status).toBe(503)
      expect(down.body.backends.objects).toMatchObject({ kind: "s3", location: `s3://${bucket}`, state: "down" })
      expect(down.body.reasons.join("\n")).toContain(`the object store (s3 s3://${bucket}) does not answer`)
      const during = await send("during")
      expect(during.status).toBe(503)
      expect(during.retryAfter).not.toBeNull()

      await proxy.start(proxyPort)
      let back = await health()
      for (let i = 0; i < 300 && back.status !== 200; i++) {
        await sleep(100)
        back = await health()
      }
      expect(back.body.reasons).toEqual([])
      expect(back.body.backends.objects?.state).toBe("up")
      expect((await send("after")).status).toBe(200)
      // The sender retries what was refused, with the same id.
      expect((await send("during")).status).toBe(200)

      const archived = new Set<string>()
      for (let i = 0; i < 100 && !["before", "during", "after"].every((id) => archived.has(id)); i++) {
        const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "archive/acme/" }))
        for (const o of listed.Contents ?? []) {
          if (!o.Key!.endsWith(".ndjson.gz")) continue
          const body = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }))).Body!.transformToByteArray()
          const text = gunzipSync(body).toString("utf8")
          for (const id of ["before", "during", "after"]) if (text.includes(`outage-${id}`)) archived.add(id)
        }
        await sleep(100)
      }
      expect([...archived].sort()).toEqual(["after", "before", "during"])
    } finally {
      await done()
    }
  }, 180_000)

  it("on Kafka a store that is down takes no sender's 2xx away: health stays ready and names the failing archive consumer", async ({ expect }) => {
    // On Kafka a 2xx means Kafka has the message (README: what a 2xx means); the archive consumer writes it when the
    // store is back. Before: while the raw consumer retried, senders were refused 503 not_ready (most of the time:
    // 200 and 503 alternated with the consumer's retries) and /health said nothing of the consumer between retries.
    const scene = new KafkaScene(`oo${randomUUID().slice(0, 8)}.`)
    await scene.connect()
    const { s3, bucket, proxy, proxyPort, url, serve, send, health, done } = await serveBehindProxy("kafka", {
      CDP_BUS: "kafka", CDP_KAFKA_BROKERS: kafkaBrokers().join(","), CDP_KAFKA_PREFIX: scene.prefix, CDP_KAFKA_PARTITIONS: "1",
    })
    try {
      await untilHealthy(url, serve)
      expect((await send("before")).status).toBe(200)
      await proxy.stop()
      const statuses: Array<number> = []
      const warned: Array<boolean> = []
      // Over 15 s, past the raw consumer's first retries (200 ms doubling to 10 s) and a write's 5 s connect timeout.
      for (let i = 0; i < 15; i++) {
        statuses.push((await send(`during-${i}`)).status)
        const h = await health()
        statuses.push(h.status)
        warned.push((h.body.warnings ?? []).some((w) => w.startsWith(`topic ${scene.prefix}raw: its consumer has failed`)))
        await sleep(1_000)
      }
      expect(statuses.filter((s) => s !== 200)).toEqual([])
      // Once it has failed, the consumer is named in every answer after (not only while a retry is under way).
      const first = warned.indexOf(true)
      expect(first).toBeGreaterThanOrEqual(0)
      expect(warned.slice(first)).toEqual(warned.slice(first).map(() => true))
      const down = await health()
      expect(down.body).toMatchObject({ ready: true, reasons: [], backends: { bus: { state: "degraded" }, objects: { state: "down" } } })

      await proxy.start(proxyPort)
      const ids = ["before", ...Array.from({ length: 15 }, (_, i) => `during-${i}`)]
      const archived = new Set<string>()
      for (let i = 0; i < 300 && !ids.every((id) => archived.has(id)); i++) {
        const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "archive/acme/" }))
        for (const o of listed.Contents ?? []) {
          if (!o.Key!.endsWith(".ndjson.gz")) continue
          const body = await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }))).Body!.transformToByteArray()
          const text = gunzipSync(body).toString("utf8")
          for (const id of ids) if (new RegExp(`kafka-${id}(?![0-9])`).test(text)) archived.add(id)
        }
        await sleep(200)
      }
      expect(ids.filter((id) => !archived.has(id))).toEqual([])
      let back = await health()
      for (let i = 0; i < 100 && back.body.warnings.length > 0; i++) {
        await sleep(100)
        back = await health()
      }
      expect(back.body).toMatchObject({ ready: true, warnings: [], backends: { bus: { state: "up" }, objects: { state: "up" } } })
    } finally {
      await done()
      await scene.cleanup()
    }
  }, 240_000)

  it("a store that stops answering (not refusing) is down in health, and the server recovers when it answers again", async ({ expect }) => {
    const { proxy, url, serve, send, health, done } = await serveBehindProxy("hang")
    try {
      await untilHealthy(url, serve)
      proxy.hang(true)
      const down = await health()
      expect(down.status).toBe(503)
      expect(down.body.backends.objects).toMatchObject({ state: "down" })
      // Its archive write hangs on the proxy; the sender is answered 503 once the store's check times out (3 s).
      expect((await send("during")).status).toBe(503)
      proxy.hang(false)
      let back = await health()
      for (let i = 0; i < 900 && back.status !== 200; i++) {
        await sleep(100)
        back = await health()
      }
      expect(back.body.reasons).toEqual([])
      expect((await send("after")).status).toBe(200)
    } finally {
      await done()
    }
  }, 240_000)
})
