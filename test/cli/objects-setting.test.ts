// CDP_OBJECTS chooses the object store (local: DATA_DIR/objects, s3: CDP_S3_BUCKET's bucket); unset, it follows
// CDP_S3_BUCKET. A value it does not know, or a choice the bucket setting contradicts, is refused naming the setting,
// never guessed (before CDP_OBJECTS existed, CDP_OBJECTS=s3 was ignored and objects stayed on local disk unsaid).
import { afterEach, describe, expect, it } from "vitest"
import { s3SettingsNow } from "../../cli/config.ts"
import { runCdp } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const saved = { ...process.env }
afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
  Object.assign(process.env, saved)
})

const objectsWith = (env: Record<string, string>) => {
  for (const k of Object.keys(process.env)) if (k.startsWith("CDP_S3_") || k === "CDP_OBJECTS") delete process.env[k]
  Object.assign(process.env, env)
  return s3SettingsNow()
}

describe("CDP_OBJECTS", () => {
  it("unset follows CDP_S3_BUCKET; s3 needs a bucket, local refuses one", () => {
    expect(objectsWith({})).toBeUndefined()
    expect(objectsWith({ CDP_OBJECTS: "local" })).toBeUndefined()
    expect(objectsWith({ CDP_S3_BUCKET: "cdp-b1" })).toMatchObject({ bucket: "cdp-b1" })
    expect(objectsWith({ CDP_OBJECTS: "s3", CDP_S3_BUCKET: "cdp-b1" })).toMatchObject({ bucket: "cdp-b1" })
    expect(() => objectsWith({ CDP_OBJECTS: "s3" })).toThrow("CDP_S3_BUCKET must be set when CDP_OBJECTS=s3")
    expect(() => objectsWith({ CDP_OBJECTS: "local", CDP_S3_BUCKET: "cdp-b1" })).toThrow('CDP_S3_BUCKET must be unset when CDP_OBJECTS=local (objects stay in the data dir) (it names bucket "cdp-b1")')
  })

  it("a value it does not know stops cdp serve with one line naming it", () => {
    const dir = freshDir()
    const r = runCdp(["serve", "--port", "0", "--data-dir", dir], { env: { CDP_OBJECTS: "gcs" } })
    removeDir(dir)
    expect(r.status).toBe(1)
    expect(r.stderr.trim()).toBe('cdp: CDP_OBJECTS must be local or s3 (s3 needs CDP_S3_BUCKET; unset: s3 when CDP_S3_BUCKET is set) (Expected "local" | "s3"); fix it or unset it')
  })

  it("an endpoint with credentials, a path or a port out of range is named, and its password is never echoed", () => {
    // Before: http://user:pw@host was taken, and the start's bucket check echoed it whole ("... does not exist at http://user:pw@...").
    const bad = (endpoint: string) => {
      try {
        objectsWith({ CDP_S3_BUCKET: "cdp-b1", CDP_S3_ENDPOINT: endpoint })
      } catch (e) {
        return (e as Error).message
      }
      return "accepted"
    }
    const withCredentials = bad("http://user:pw-secret@127.0.0.1:9000")
    expect(withCredentials).toContain("CDP_S3_ENDPOINT must be")
    expect(withCredentials).toContain("it holds credentials: put them in CDP_S3_ACCESS_KEY_ID and CDP_S3_SECRET_ACCESS_KEY")
    expect(withCredentials).not.toContain("pw-secret")
    expect(bad("http://127.0.0.1:9000/bucket?x=1")).toContain("it has a path or query: name the bucket in CDP_S3_BUCKET")
    expect(bad("http://127.0.0.1:99999")).toContain("port 99999 is not one of 1-65535")
    expect(objectsWith({ CDP_S3_BUCKET: "cdp-b1", CDP_S3_ENDPOINT: "http://127.0.0.1:9000/" })).toMatchObject({ endpoint: "http://127.0.0.1:9000" })
  })

  it("a bucket name S3 cannot hold, or a region that is not one, is named at start", () => {
    // Before: "My_Bucket" failed the start's check as "S3 failed to check s3://My_Bucket: HTTP 400: UnknownError".
    for (const bucket of ["My_Bucket", "a/b", "ab", "-abc", "x".repeat(64)]) {
      expect(() => objectsWith({ CDP_S3_BUCKET: bucket })).toThrow(`CDP_S3_BUCKET must be the name of an existing S3 bucket`)
      expect(() => objectsWith({ CDP_S3_BUCKET: bucket })).toThrow("is not an S3 bucket name (3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit)")
    }
    expect(objectsWith({ CDP_S3_BUCKET: "cdp-archive.eu1" })).toMatchObject({ bucket: "cdp-archive.eu1" })
    expect(() => objectsWith({ CDP_S3_BUCKET: "cdp-b1", CDP_S3_REGION: "eu west" })).toThrow('CDP_S3_REGION must be an S3 region, e.g. eu-west-1 ("eu west" is not a region name')
    expect(objectsWith({ CDP_S3_BUCKET: "cdp-b1", CDP_S3_REGION: "" })).toMatchObject({ region: "us-east-1" })
  })
})
