// The S3 ObjectStore against a real S3 server (MinIO from deploy/services/up): the same contract as the local store,
// multipart uploads, errors, and the raw archive written by one pipeline and replayed by another through S3.
// Runs when CDP_INTEGRATION=1 (eval "$(deploy/services/up)" first); fails, not skips, when the server is missing.
import { existsSync } from "node:fs"
import { join } from "node:path"
import { randomUUID } from "node:crypto"
import {
  CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command,
  PutObjectCommand, S3Client,
} from "@aws-sdk/client-s3"
import { Effect, Layer, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { appendAudit, auditSigner, entryKey, verifyAudit } from "../../consent/audit.ts"
import { ObjectStore, ObjectStoreError } from "../../ingest/objectstore.ts"
import { MIN_PART_BYTES, s3ObjectStore, type S3StoreOptions } from "../../ingest/objectstore-s3.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { replayArchive } from "../../ingest/replay.ts"
import { parseSocialWebhook } from "../../ingest/sources/social.ts"
import { largeBody, objectStoreContract } from "../support/objectstore-contract.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"

const enabled = process.env["CDP_INTEGRATION"] === "1"

const storeOf = Effect.gen(function* () {
  return yield* ObjectStore
})

const server = () => {
  const endpoint = process.env["CDP_S3_ENDPOINT"]
  const accessKeyId = process.env["CDP_S3_ACCESS_KEY_ID"]
  const secretAccessKey = process.env["CDP_S3_SECRET_ACCESS_KEY"]
  if (endpoint === undefined || accessKeyId === undefined || secretAccessKey === undefined) {
    throw new Error('CDP_INTEGRATION=1 needs an S3 server: run eval "$(deploy/services/up)" first (sets CDP_S3_ENDPOINT and credentials)')
  }
  return { endpoint, accessKeyId, secretAccessKey, region: process.env["CDP_S3_REGION"] ?? "us-east-1" }
}

let admin: S3Client
const buckets: Array<string> = []

/** A new empty bucket (S3 names: lowercase, 3-63 characters). */
const newBucket = async () => {
  const bucket = `cdp-test-${randomUUID().slice(0, 13)}`
  await admin.send(new CreateBucketCommand({ Bucket: bucket }))
  buckets.push(bucket)
  return bucket
}

const keysIn = async (bucket: string) =>
  ((await admin.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key!)

const options = (bucket: string): S3StoreOptions => {
  const s = server()
  return {
    bucket, endpoint: s.endpoint, region: s.region, forcePathStyle: true, partSizeBytes: MIN_PART_BYTES,
    credentials: { accessKeyId: Redacted.make(s.accessKeyId), secretAccessKey: Redacted.make(s.secretAccessKey) },
  }
}

describe.runIf(enabled)("S3 object store on a real server", () => {
  beforeAll(async () => {
    const s = server()
    admin = new S3Client({
      endpoint: s.endpoint, region: s.region, forcePathStyle: true,
      credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey },
    })
    // Fails the suite, with the line above, when nothing answers.
    await admin.send(new ListObjectsV2Command({ Bucket: await newBucket() })).catch((e: Error) => {
      throw new Error(`no S3 server at ${s.endpoint} (${e.name}): run eval "$(deploy/services/up)" first`)
    })
  })
  afterAll(async () => {
    for (const bucket of buckets) {
      // One page (up to 1,000 keys) at a time, until the bucket is empty.
      for (let keys = await keysIn(bucket); keys.length > 0; keys = await keysIn(bucket)) {
        await admin.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }))
      }
      await admin.send(new DeleteBucketCommand({ Bucket: bucket }))
    }
    admin.destroy()
  })

  objectStoreContract("S3 (MinIO)", () => Layer.unwrap(Effect.map(Effect.promise(newBucket), (b) => s3ObjectStore(options(b)))))

  const withStore = <A>(opts: S3StoreOptions, program: Effect.Effect<A, unknown, ObjectStore>) =>
    Effect.runPromise(Effect.scoped(program.pipe(Effect.provide(s3ObjectStore(opts)))))
  /** The error that building the store fails with. */
  const startFailure = (opts: S3StoreOptions) =>
    Effect.runPromise(Effect.scoped(Effect.flip(Effect.asVoid(storeOf).pipe(Effect.provide(s3ObjectStore(opts))))))

  it("uploads an object larger than the part size in parts, and the key is where the local store would put it", async () => {
    const bucket = await newBucket()
    const key = "archive/acme/calls/2025-01-15/large.ndjson.gz"
    await withStore(options(bucket), Effect.gen(function* () {
      yield* (yield* ObjectStore).put(key, largeBody())
    }))
    const head = await admin.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))
    // A multipart object's ETag is "<md5 of part md5s>-<parts>": 12 MiB in 5 MiB parts is 3.
    expect(head.ETag).toMatch(/-3"$/)
    expect(head.ContentLength).toBe(largeBody().length)
    expect(await keysIn(bucket)).toEqual([key])
  })

  it("lists past S3's page of 1,000 keys", async () => {
    const bucket = await newBucket()
    const keys = Array.from({ length: 1_003 }, (_, i) => `archive/acme/chat/2025-01-15/b-${String(i).padStart(5, "0")}.ndjson.gz`)
    const listed = await withStore(options(bucket), Effect.gen(function* () {
      const s = yield* ObjectStore
      yield* Effect.forEach(keys, (k) => s.put(k, "x"), { concurrency: 32, discard: true })
      return yield* s.list("archive/acme/")
    }))
    expect(listed).toEqual(keys)
  })

  it("a missing bucket fails at start naming the bucket", async () => {
    const error = await startFailure(options("cdp-test-no-such-bucket"))
    expect(error).toBeInstanceOf(ObjectStoreError)
    expect(error.message).toBe(`bucket "cdp-test-no-such-bucket" does not exist at ${server().endpoint}; create it first`)
  })

  it("wrong credentials are access denied naming the bucket, never the key or secret", async () => {
    const bucket = await newBucket()
    const wrong = { accessKeyId: Redacted.make("cdp-wrong-id"), secretAccessKey: Redacted.make("cdp-wrong-secret") }
    const error = await startFailure({ ...options(bucket), credentials: wrong })
    expect(error).toBeInstanceOf(ObjectStoreError)
    expect(error.message).toBe(
      `access denied to check s3://${bucket} (HTTP 403); check CDP_S3_ACCESS_KEY_ID/CDP_S3_SECRET_ACCESS_KEY or the SDK's credentials`,
    )
    const everything = JSON.stringify({ ...error, message: error.message })
    expect(everything).not.toContain("cdp-wrong-id")
    expect(everything).not.toContain("cdp-wrong-secret")
  })

  it("the audit log chains and verifies in S3, and an entry edited in the bucket is named", async () => {
    const bucket = await newBucket()
    const dir = freshDir()
    try {
      const verify = () => withStore(options(bucket), Effect.flatMap(auditSigner(dir), verifyAudit))
      await withStore(options(bucket), Effect.gen(function* () {
        const signer = yield* auditSigner(dir)
        for (let i = 1; i <= 3; i++) yield* appendAudit(signer, { kind: "dsr.received", tenant: "acme", requestId: `dsr_${i}`, data: { n: i } })
      }))
      expect(await verify()).toMatchObject({ ok: true, entries: 3, headSeq: 3 })
      expect(await keysIn(bucket)).toEqual([
        "audit/head.json",
        // Each request's entries by number, so its trail is read without reading the log (consent/audit.ts).
        ...[1, 2, 3].map((i) => `audit/index/request/dsr_${i}.json`), "audit/index/requests.json",
        entryKey(1), entryKey(2), entryKey(3),
      ])

      const second = await admin.send(new GetObjectCommand({ Bucket: bucket, Key: entryKey(2) }))
      const edited = (await second.Body!.transformToString()).replace('"n":2', '"n":20')
      await admin.send(new PutObjectCommand({ Bucket: bucket, Key: entryKey(2), Body: edited }))
      const v = await verify()
      expect(v.ok).toBe(false)
      expect(JSON.stringify(v.problems)).toContain(entryKey(2))
    } finally {
      removeDir(dir)
    }
  })

  it("one pipeline archives to S3 (not the data dir); another with a fresh warehouse replays it from S3", async () => {
    const bucket = await newBucket()
    const s = server()
    const saved = { ...process.env }
    Object.assign(process.env, {
      CDP_S3_BUCKET: bucket, CDP_S3_ENDPOINT: s.endpoint, CDP_S3_REGION: s.region, CDP_S3_FORCE_PATH_STYLE: "true",
      CDP_S3_ACCESS_KEY_ID: s.accessKeyId, CDP_S3_SECRET_ACCESS_KEY: s.secretAccessKey,
      // Items received on a fixed day of January 2025, older than the archive's default 13 months: the second
      // pipeline's start would expire them. This tests archiving to S3 and replay, not retention.
      CDP_RETENTION: "archive=forever",
    })
    const [dirA, dirB] = [freshDir(), freshDir()]
    try {
      const at = Date.parse("2025-01-15T10:00:00.000Z")
      const lines = ["p1", "p2", "p3"].map((id) =>
        JSON.stringify({ id, network: "reddit", author_handle: "hiker", text: "Love it", created_at: "2025-01-15T09:00:00Z" }))
      const events = parseSocialWebhook(lines.join("\n"), { tenant: "acme", receivedAtMs: at }).flatMap((i) => (i._tag === "event" ? [i.event] : []))
      await withPipeline(dirA, Effect.gen(function* () {
        expect((yield* ObjectStore).backend).toEqual({ kind: "s3", location: `s3://${bucket}` })
        yield* (yield* Pipeline).submit(events, [])
      }))
      expect(existsSync(join(dirA, "objects"))).toBe(false)
      const archived = await keysIn(bucket)
      expect(archived.filter((k) => k.startsWith("archive/acme/social/2025-01-15/"))).toEqual(
        expect.arrayContaining(["archive/acme/social/2025-01-15/manifest.json", expect.stringMatching(/\.ndjson\.gz$/)]),
      )

      await withPipeline(dirB, Effect.gen(function* () {
        const summary = yield* replayArchive({ from: new Date(at - 86_400_000), to: new Date(at + 86_400_000) })
        expect(summary).toMatchObject({ records: 3, landed: 3, duplicates: 0, rejected: 0, corruptBatches: [] })
        expect(yield* query("SELECT message_id FROM events ORDER BY message_id")).toEqual([
          { message_id: "reddit:p1" }, { message_id: "reddit:p2" }, { message_id: "reddit:p3" },
        ])
      }))
      // Replay reads the archive; it does not write it again.
      expect(await keysIn(bucket)).toEqual(archived)
    } finally {
      process.env = saved
      removeDir(dirA)
      removeDir(dirB)
    }
  })
})
