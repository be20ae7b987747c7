// Write keys as configured for `cdp serve`: a key belongs to one tenant, and an empty key spec is a mistake, not
// "no key" (which would silently serve with the generated key). Each is one line naming what is wrong, exit 1.
import { existsSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { parseWriteKeySpecs, uniqueWriteKeys, writeKeys } from "../../ingest/writekeys.ts"
import { runCdp } from "../support/cli.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("write keys for cdp serve", () => {
  it("refuses a key given for two tenants, by flags, by CDP_WRITE_KEYS or by both, naming the key", () => {
    const data = join(dir, "data")
    const serve = (args: ReadonlyArray<string>, env: Record<string, string | undefined> = {}) =>
      runCdp(["serve", "--port", "0", "--data-dir", data, ...args], { env: { CDP_WRITE_KEYS: undefined, ...env } })
    expectOneLineError(serve(["--write-key", "k1=a", "--write-key", "k1=b"]), 'write key "k1" is given for two tenants')
    expectOneLineError(serve([], { CDP_WRITE_KEYS: "k1=a,k1=b" }), 'write key "k1" is given for two tenants')
    expectOneLineError(serve(["--write-key", "k1=a"], { CDP_WRITE_KEYS: "k1=b" }), 'write key "k1" is given for two tenants')
    expect(existsSync(data)).toBe(false)
  })

  it("refuses an empty key spec instead of ignoring it", () => {
    const data = join(dir, "data")
    const serve = (args: ReadonlyArray<string>, env: Record<string, string | undefined> = {}) =>
      runCdp(["serve", "--port", "0", "--data-dir", data, ...args], { env: { CDP_WRITE_KEYS: undefined, ...env } })
    expectOneLineError(serve([], { CDP_WRITE_KEYS: ",,," }), "CDP_WRITE_KEYS must be")
    expectOneLineError(serve(["--write-key", ""]), "--write-key")
    expectOneLineError(serve(["--write-key", "k1=a,"]), "empty entry")
    expect(existsSync(data)).toBe(false)
  })

  it("keeps a key given twice for one tenant once", () => {
    expect(parseWriteKeySpecs(["k1=a", "k2", "k1=a"])).toEqual([{ writeKey: "k1", tenant: "a" }, { writeKey: "k2", tenant: "default" }])
    expect(() => uniqueWriteKeys([{ writeKey: "k1", tenant: "a" }, { writeKey: "k1", tenant: "b" }])).toThrow(/"k1".*"a" and "b"/)
    expect(() => writeKeys([{ writeKey: "k1", tenant: "a" }, { writeKey: "k1", tenant: "b" }])).toThrow(/"k1"/)
  })
})
