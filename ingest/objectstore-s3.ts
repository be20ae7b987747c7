// The ObjectStore over S3 (AWS, or any S3 API such as MinIO). Keys are the local store's relative paths unchanged
// (archive/<tenant>/<source>/<date>/..., dsr/bundles/<tenant>/..., audit/...), so a bucket holds what objects/ holds.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3"
import { Upload } from "@aws-sdk/lib-storage"
import { Effect, Layer, Redacted } from "effect"
import { checkKey, ObjectStore, ObjectStoreError, type ObjectStoreShape } from "./objectstore.ts"

export interface S3StoreOptions {
  readonly bucket: string
  /** An S3-compatible server (e.g. http://127.0.0.1:9000); unset means AWS itself. */
  readonly endpoint?: string | undefined
  readonly region: string
  /** bucket in the path (http://host/bucket/key), as MinIO wants, instead of in the host name. */
  readonly forcePathStyle: boolean
  /** Unset: the SDK's default chain (AWS_* variables, profile, instance role). */
  readonly credentials?: { readonly accessKeyId: Redacted.Redacted; readonly secretAccessKey: Redacted.Redacted } | undefined
  /** Objects larger than this are uploaded in parts of this size; S3's smallest part is 5 MiB. */
  readonly partSizeBytes?: number | undefined
}

export const MIN_PART_BYTES = 5 * 1024 * 1024
const DEFAULT_PART_BYTES = 8 * 1024 * 1024
/** How long a connection to S3 may take to open, and how long an open one may stay silent, before a request fails. */
const CONNECT_TIMEOUT_MS = 5_000
const SILENCE_TIMEOUT_MS = 30_000
/** How long /health waits for the bucket to answer. */
const PING_TIMEOUT_MS = 3_000
/**
 * How long the start waits for the bucket to answer, all the SDK's attempts together: left alone it waits out the
 * silence timeout on each of its three attempts, about 100 s before a server that never answers was named.
 */
const START_CHECK_TIMEOUT_MS = 10_000
/** Parts uploaded at once by one multipart upload. */
const PART_QUEUE = 4

/** The ObjectStore on an existing bucket; building it checks that the bucket is there and reachable. */
export const s3ObjectStore = (options: S3StoreOptions) => Layer.effect(ObjectStore, makeS3Store(options))

interface SdkError {
  readonly name?: string
  readonly code?: string
  readonly message?: string
  readonly errors?: ReadonlyArray<SdkError>
  readonly $metadata?: { readonly httpStatusCode?: number }
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH"])

const networkCode = (e: SdkError): string | undefined =>
  e.code !== undefined && NETWORK_CODES.has(e.code) ? e.code
    : e.name === "TimeoutError" ? "timeout"
    : e.errors?.map(networkCode).find((c) => c !== undefined)

const makeS3Store = (options: S3StoreOptions) =>
  Effect.gen(function* () {
    const { bucket } = options
    const where = `s3 ${options.endpoint ?? `aws ${options.region}`} bucket ${bucket}`
    const partSize = Math.max(MIN_PART_BYTES, options.partSizeBytes ?? DEFAULT_PART_BYTES)
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => new S3Client({
        ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
        region: options.region,
        forcePathStyle: options.forcePathStyle,
        ...(options.credentials === undefined ? {} : {
          credentials: {
            accessKeyId: Redacted.value(options.credentials.accessKeyId),
            secretAccessKey: Redacted.value(options.credentials.secretAccessKey),
          },
        }),
        // Without these the SDK waits forever on a server (or network) that takes a request and never answers: the
        // archive's write hung, so its consumer never retried and the server stayed unready after the store was back.
        // The socket timeout counts silence, not the whole request, so a large upload that keeps sending is not cut.
        requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, socketTimeout: SILENCE_TIMEOUT_MS },
        // Checksums only where S3 requires them: S3-compatible servers differ in which newer checksums they accept.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
      })),
      (c) => Effect.sync(() => c.destroy()),
    )

    /**
     * The SDK's error as one line naming the bucket and key. Only its name, code and status are kept as the cause:
     * the SDK error carries the signed request, which names the access key.
     */
    const failure = (key: string, what: string) => (cause: unknown) => {
      const e = (cause ?? {}) as SdkError
      const status = e.$metadata?.httpStatusCode
      const network = networkCode(e)
      const object = key === "" ? `s3://${bucket}` : `s3://${bucket}/${key}`
      // HEAD answers have no body, so the SDK cannot name the error: the status says it.
      const label = e.name !== undefined && e.name !== "Unknown" ? e.name : status !== undefined ? `HTTP ${status}` : "Error"
      const message = network !== undefined
        ? `cannot reach S3 at ${options.endpoint ?? `aws ${options.region}`} (${network}) to ${what} ${object}`
        : e.name === "NoSuchBucket" || (what === "check" && status === 404)
        ? `bucket "${bucket}" does not exist at ${options.endpoint ?? `aws ${options.region}`}; create it first`
        : status === 403 || e.name === "AccessDenied" || e.name === "InvalidAccessKeyId" || e.name === "SignatureDoesNotMatch"
        ? `access denied to ${what} ${object} (${label}); check CDP_S3_ACCESS_KEY_ID/CDP_S3_SECRET_ACCESS_KEY or the SDK's credentials`
        : `S3 failed to ${what} ${object}: ${label}${status === undefined || label.startsWith("HTTP") ? "" : ` (HTTP ${status})`}: ${e.message ?? String(cause)}`
      return new ObjectStoreError({
        backend: where,
        key,
        message,
        cause: { name: e.name, code: network ?? e.code, httpStatus: status },
      })
    }

    const send = <A>(key: string, what: string, run: (signal: AbortSignal) => Promise<A>) =>
      Effect.tryPromise({ try: run, catch: failure(key, what) })

    /**
     * A HEAD of the bucket that gives up after `ms`, so a server that stopped answering (not refusing) holds neither the
     * start nor /health; giving up is named as the timeout it is (the SDK calls it "Request aborted").
     */
    const checkWithin = (ms: number) =>
      Effect.suspend(() => {
        const deadline = AbortSignal.timeout(ms)
        return Effect.tryPromise({
          try: (signal) => client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: AbortSignal.any([signal, deadline]) }),
          catch: (cause) => failure("", "check")(deadline.aborted ? { name: "TimeoutError" } : cause),
        })
      })
    yield* checkWithin(START_CHECK_TIMEOUT_MS)

    const ping = checkWithin(PING_TIMEOUT_MS).pipe(Effect.as(undefined), Effect.catch((e) => Effect.succeed(e.message)))

    const store: ObjectStoreShape = {
      backend: { kind: "s3", location: `s3://${bucket}` },
      ping,
      // A PUT (or the completion of a multipart upload) replaces the object whole: readers see old or new bytes.
      put: (key, body) =>
        Effect.flatMap(checkKey(where, key), () => {
          const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body
          return bytes.byteLength <= partSize
            ? send(key, "write", (abortSignal) =>
              client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes, ContentLength: bytes.byteLength }), { abortSignal }))
            : send(key, "write", async (abortSignal) => {
              // A failed upload aborts itself (leavePartsOnError is off), so no orphan parts are billed.
              const upload = new Upload({ client, params: { Bucket: bucket, Key: key, Body: bytes }, partSize, queueSize: PART_QUEUE })
              abortSignal.addEventListener("abort", () => void upload.abort(), { once: true })
              await upload.done()
            })
        }).pipe(Effect.asVoid),
      get: (key) =>
        Effect.flatMap(checkKey(where, key), () =>
          send(key, "read", async (abortSignal) => {
            try {
              const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal })
              return out.Body === undefined ? new Uint8Array() : await out.Body.transformToByteArray()
            } catch (e) {
              if ((e as SdkError).name === "NoSuchKey") return undefined
              throw e
            }
          })),
      list: (prefix) =>
        send(prefix, "list", async (abortSignal) => {
          const keys: Array<string> = []
          for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket, Prefix: prefix }, { abortSignal })) {
            for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key)
          }
          return keys.sort()
        }),
      // Deleting a missing key succeeds, as S3 answers it and as the local store does.
      remove: (key) =>
        Effect.flatMap(checkKey(where, key), () =>
          send(key, "delete", (abortSignal) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal }))).pipe(
          Effect.asVoid,
        ),
    }
    return store
  })
