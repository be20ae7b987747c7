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
    expect(objectsWith({ CDP_S3_BUCKET: "b1" })).toMatchObject({ bucket: "b1" })
    expect(objectsWith({ CDP_OBJECTS: "s3", CDP_S3_BUCKET: "b1" })).toMatchObject({ bucket: "b1" })
    expect(() => objectsWith({ CDP_OBJECTS: "s3" })).toThrow("CDP_S3_BUCKET must be set when CDP_OBJECTS=s3")
    expect(() => objectsWith({ CDP_OBJECTS: "local", CDP_S3_BUCKET: "b1" })).toThrow('CDP_S3_BUCKET must be unset when CDP_OBJECTS=local (objects stay in the data dir) (it names bucket "b1")')
  })

  it("a value it does not know stops cdp serve with one line naming it", () => {
    const dir = freshDir()
    const r = runCdp(["serve", "--port", "0", "--data-dir", dir], { env: { CDP_OBJECTS: "gcs" } })
    removeDir(dir)
    expect(r.status).toBe(1)
    expect(r.stderr.trim()).toBe('cdp: CDP_OBJECTS must be local or s3 (s3 needs CDP_S3_BUCKET; unset: s3 when CDP_S3_BUCKET is set) (Expected "local" | "s3"); fix it or unset it')
  })
})
