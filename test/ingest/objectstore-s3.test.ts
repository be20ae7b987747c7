// The S3 store's configuration and its errors when no server answers (what it does against a real server is in
// test/integration/objectstore-s3.test.ts).
import { type AddressInfo, createServer, type Socket } from "node:net"
import { Effect, Redacted } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { backendConfig, objectStoreLayer } from "../../cli/layers.ts"
import { SettingInvalid } from "../../cli/config.ts"
import { ObjectStore, ObjectStoreError } from "../../ingest/objectstore.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const S3_VARIABLES = ["CDP_S3_BUCKET", "CDP_S3_ENDPOINT", "CDP_S3_REGION", "CDP_S3_FORCE_PATH_STYLE", "CDP_S3_ACCESS_KEY_ID", "CDP_S3_SECRET_ACCESS_KEY"]
const saved = Object.fromEntries(S3_VARIABLES.map((v) => [v, process.env[v]]))
const dirs: Array<string> = []
afterEach(() => {
  for (const v of S3_VARIABLES) saved[v] === undefined ? delete process.env[v] : (process.env[v] = saved[v])
  dirs.splice(0).forEach(removeDir)
})
const setEnv = (values: Record<string, string>) => {
  for (const v of S3_VARIABLES) delete process.env[v]
  Object.assign(process.env, values)
}
const storeOf = Effect.gen(function* () {
  return yield* ObjectStore
})
const dataDir = () => {
  const dir = freshDir()
  dirs.push(dir)
  return dir
}

describe("S3 object store settings", () => {
  it("without CDP_S3_BUCKET objects stay in the data dir", async () => {
    setEnv({ CDP_S3_ENDPOINT: "http://127.0.0.1:1" })
    const config = backendConfig(dataDir())
    expect(config.s3).toBeUndefined()
    const kind = await Effect.runPromise(Effect.scoped(Effect.map(storeOf, (s) => s.backend.kind).pipe(
      Effect.provide(objectStoreLayer(config)),
    )))
    expect(kind).toBe("local")
  })

  it("reads every CDP_S3_* setting, credentials redacted", () => {
    setEnv({
      CDP_S3_BUCKET: "cdp-objects", CDP_S3_ENDPOINT: "http://127.0.0.1:9000", CDP_S3_REGION: "eu-west-1",
      CDP_S3_FORCE_PATH_STYLE: "true", CDP_S3_ACCESS_KEY_ID: "AKIDEXAMPLE", CDP_S3_SECRET_ACCESS_KEY: "s3cr3t-value",
    })
    const { s3 } = backendConfig(dataDir())
    expect(s3).toMatchObject({ bucket: "cdp-objects", endpoint: "http://127.0.0.1:9000", region: "eu-west-1", forcePathStyle: true })
    expect(Redacted.value(s3!.credentials!.secretAccessKey)).toBe("s3cr3t-value")
    expect(JSON.stringify(s3)).not.toContain("s3cr3t-value")
    expect(String(s3!.credentials!.accessKeyId)).not.toContain("AKIDEXAMPLE")
  })

  it("defaults to us-east-1, virtual-hosted style and the SDK's credential chain", () => {
    setEnv({ CDP_S3_BUCKET: "cdp-objects" })
    expect(backendConfig(dataDir()).s3).toEqual({
      bucket: "cdp-objects", endpoint: undefined, region: "us-east-1", forcePathStyle: false, credentials: undefined,
    })
  })

  it("an access key id without its secret is one error naming the missing variable", () => {
    setEnv({ CDP_S3_BUCKET: "cdp-objects", CDP_S3_ACCESS_KEY_ID: "AKIDEXAMPLE" })
    expect(() => backendConfig(dataDir())).toThrow(SettingInvalid)
    expect(() => backendConfig(dataDir())).toThrow(/^CDP_S3_SECRET_ACCESS_KEY must be set together with CDP_S3_ACCESS_KEY_ID/)
  })

  it("a bad endpoint or path-style flag names its variable", () => {
    setEnv({ CDP_S3_BUCKET: "cdp-objects", CDP_S3_ENDPOINT: "127.0.0.1:9000" })
    expect(() => backendConfig(dataDir())).toThrow(/^CDP_S3_ENDPOINT must be/)
    setEnv({ CDP_S3_BUCKET: "cdp-objects", CDP_S3_FORCE_PATH_STYLE: "maybe" })
    expect(() => backendConfig(dataDir())).toThrow(/^CDP_S3_FORCE_PATH_STYLE must be true or false/)
  })

  it("with CDP_S3_BUCKET the store is S3, and an unreachable server fails it at start naming endpoint and bucket, not the credentials", async () => {
    setEnv({
      CDP_S3_BUCKET: "cdp-objects", CDP_S3_ENDPOINT: "http://127.0.0.1:1", CDP_S3_FORCE_PATH_STYLE: "true",
      CDP_S3_ACCESS_KEY_ID: "AKIDEXAMPLE", CDP_S3_SECRET_ACCESS_KEY: "s3cr3t-value",
    })
    const error = await Effect.runPromise(Effect.scoped(Effect.flip(storeOf.pipe(
      Effect.provide(objectStoreLayer(backendConfig(dataDir()))),
    ))))
    expect(error).toBeInstanceOf(ObjectStoreError)
    expect(error.message).toMatch(/^cannot reach S3 at http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\) to check s3:\/\/cdp-objects$/)
    const everything = JSON.stringify({ ...error, message: error.message })
    expect(everything).not.toContain("s3cr3t-value")
    expect(everything).not.toContain("AKIDEXAMPLE")
  })

  it("a server that takes the connection and never answers fails the start within seconds, naming endpoint and bucket", async () => {
    // The SDK, left alone, waits out its silence timeout on each of its three attempts: about 100 s before cdp serve
    // said anything.
    const sockets: Array<Socket> = []
    const silent = createServer((socket) => { sockets.push(socket) })
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve))
    const endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`
    try {
      setEnv({ CDP_S3_BUCKET: "cdp-objects", CDP_S3_ENDPOINT: endpoint, CDP_S3_FORCE_PATH_STYLE: "true", CDP_S3_ACCESS_KEY_ID: "AKIDEXAMPLE", CDP_S3_SECRET_ACCESS_KEY: "s3cr3t-value" })
      const started = performance.now()
      const error = await Effect.runPromise(Effect.scoped(Effect.flip(storeOf.pipe(Effect.provide(objectStoreLayer(backendConfig(dataDir())))))))
      expect(performance.now() - started).toBeLessThan(20_000)
      expect(error.message).toBe(`cannot reach S3 at ${endpoint} (timeout) to check s3://cdp-objects`)
    } finally {
      sockets.forEach((s) => s.destroy())
      silent.close()
    }
  }, 60_000)
})
