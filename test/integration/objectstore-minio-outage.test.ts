// MinIO dying (or hanging) under `cdp serve` on the in-process bus, where a message is answered 2xx only once its raw
// text is archived: the sender whose request is already under way is answered 503 with Retry-After within seconds,
// not after the 30 s publish timeout (before, the collector learnt of the store only once the archive consumer had
// failed, which the request in flight waited behind). Every message answered 2xx is in the archive. The MinIO is one
// of the test's own (test/support/own-servers.ts), so the shared one keeps running.
// Runs when CDP_INTEGRATION=1 (eval "$(deploy/services/up)" first: it builds MinIO); fails, not skips, without it.
import { gunzipSync } from "node:zlib"
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type CdpProcess, freePort, sleep, startCdp, untilHealthy } from "../support/kafka.ts"
import { ownMinio, type OwnServer } from "../support/own-servers.ts"
import { basicAuth, freshDir, removeDir } from "../support/pipeline.ts"

const enabled = process.env["CDP_INTEGRATION"] === "1"
const KEY = "wk_minio_outage"
const BUCKET = "cdp-own-outage"

describe.runIf(enabled)("a MinIO dying under cdp serve on the in-process bus", () => {
  let minio: OwnServer & { readonly endpoint: string }
  let s3: S3Client
  let serve: CdpProcess | undefined
  const dir = freshDir("cdp-minio-outage-")
  beforeAll(async () => {
    minio = await ownMinio()
    s3 = new S3Client({
      endpoint: minio.endpoint, region: "us-east-1", forcePathStyle: true,
      credentials: { accessKeyId: process.env["CDP_S3_ACCESS_KEY_ID"] ?? "cdpadmin", secretAccessKey: process.env["CDP_S3_SECRET_ACCESS_KEY"] ?? "cdpadmin-secret" },
    })
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }))
  }, 60_000)
  afterAll(async () => {
    serve?.child.kill("SIGKILL")
    s3?.destroy()
    await minio?.remove()
    removeDir(dir)
  })

  it("the sender in flight when the store stops is answered 503 with Retry-After within seconds, and every 2xx is archived", async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    serve = startCdp(["serve", "--port", String(port), "--data-dir", dir], {
      CDP_BUS: "memory", CDP_WRITE_KEYS: `${KEY}=acme`, CDP_S3_BUCKET: BUCKET, CDP_S3_ENDPOINT: minio.endpoint,
      CDP_S3_FORCE_PATH_STYLE: "true", CDP_S3_REGION: "us-east-1",
    })
    await untilHealthy(url, serve)
    const send = async (id: string) => {
      const started = Date.now()
      const r = await fetch(`${url}/v1/track`, {
        method: "POST", headers: { authorization: basicAuth(KEY), "content-type": "application/json" },
        body: JSON.stringify({ userId: `u-${id}`, event: "Viewed", messageId: `own-${id}` }),
      })
      return { id, status: r.status, retryAfter: r.headers.get("retry-after"), body: await r.json() as { rule?: string; error?: string }, ms: Date.now() - started }
    }
    const answered: Array<Awaited<ReturnType<typeof send>>> = []
    const untilAccepted = async (id: string) => {
      let r = await send(id)
      for (let i = 0; i < 150 && r.status !== 200; i++) {
        await sleep(200)
        r = await send(id)
      }
      answered.push(r)
      expect(r.status, JSON.stringify(r)).toBe(200)
    }
    await untilAccepted("before")

    for (const [how, stop, restart] of [
      ["killed", () => minio.kill(), () => minio.start()],
      ["hung", async () => minio.freeze(), async () => minio.thaw()],
    ] as const) {
      await stop()
      // Sent at once, before anything has noticed: these pass the refusal check and wait for the archive.
      const during = await Promise.all(["a", "b"].map((x) => send(`${how}-${x}`)))
      for (const r of during) {
        expect(r.status, JSON.stringify(r)).toBe(503)
        expect(r.retryAfter).not.toBeNull()
        // Before: 30 s each (the publish timeout), the archive consumer retrying meanwhile.
        expect(r.ms, JSON.stringify(during)).toBeLessThan(8_000)
      }
      await restart()
      // The senders retry what was refused, with the same ids.
      for (const r of during) await untilAccepted(r.id)
    }

    // Every message answered 2xx is in the archive (with what was refused before its retry: duplicates fold on replay).
    const ids = answered.map((r) => `own-${r.id}`)
    const archived = new Set<string>()
    for (let i = 0; i < 50 && !ids.every((id) => archived.has(id)); i++) {
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "archive/acme/" }))
      for (const o of listed.Contents ?? []) {
        if (!o.Key!.endsWith(".ndjson.gz")) continue
        const text = gunzipSync(await (await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: o.Key! }))).Body!.transformToByteArray()).toString("utf8")
        for (const id of ids) if (text.includes(`"${id}"`)) archived.add(id)
      }
      if (!ids.every((id) => archived.has(id))) await sleep(200)
    }
    expect(ids.filter((id) => !archived.has(id))).toEqual([])
  }, 120_000)
})
