// The per-tenant settings name tenants as requests do (warehouse/tenant.ts). Found probing cdp serve: with
// CDP_IDENTITY_RULES {"ACME": ...} or a destination under "Acme" it started without a word, the rules applying to a
// tenant nobody writes to (acme kept the defaults) and the destination syncing tenant "Acme" (no one) every period.
import { rmSync, writeFileSync } from "node:fs"
import { basename, join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdp, startServe } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
const SET = ["CDP_IDENTITY_RULES", "CDP_DESTINATIONS", "CDP_CONSENT", "CDP_TERMS_FILE"]
beforeEach(() => { dir = freshDir() })
afterEach(() => {
  for (const v of SET) delete process.env[v]
  removeDir(dir)
})

const startError = (args: ReadonlyArray<string> = []) =>
  startServe(["--data-dir", dir, ...args]).then(async (s) => `started: ${await s.stop()}`, (e: Error) => e.message)

describe("per-tenant settings", () => {
  it("naming a tenant another way than requests may are refused at start, naming the setting and what was meant", async () => {
    process.env["CDP_IDENTITY_RULES"] = JSON.stringify({ "*": {}, ACME: { emailProviderRules: false } })
    const rules = await startError()
    expect(rules).toContain("exited with 1")
    expect(rules).toContain(`cdp: CDP_IDENTITY_RULES must be keyed by tenants' names as requests name them (tenant "ACME" is not a tenant's name (1-64 lowercase letters`)
    expect(rules).toContain('did you mean "acme"?')
    delete process.env["CDP_IDENTITY_RULES"]

    process.env["CDP_DESTINATIONS"] = JSON.stringify({ Acme: [{ name: "lake", type: "ndjson", purpose: "Analytics" }] })
    expect(await startError()).toContain('CDP_DESTINATIONS must be keyed by tenants\' names as requests name them (tenant "Acme" is not')
    delete process.env["CDP_DESTINATIONS"]
    // A tenant's own terms for sentiment, in a file: "ACME"'s would never apply to acme's texts.
    const terms = join(dir, "..", `${basename(dir)}-terms.json`)
    writeFileSync(terms, JSON.stringify({ "*": { "restock alert": 0 }, ACME: { "torn seam": -2 } }))
    process.env["CDP_TERMS_FILE"] = terms
    try {
      expect(await startError()).toContain('CDP_TERMS_FILE must be keyed by tenants\' names as requests name them (tenant "ACME" is not')
    } finally {
      delete process.env["CDP_TERMS_FILE"]
      rmSync(terms, { force: true })
    }
    // The spelling of an existing tenant a write key names is taken as written.
    process.env["CDP_CONSENT"] = JSON.stringify({ Acme: { purposes: { Analytics: { onDenied: "drop" } } } })
    expect(await startError(["--write-key", "wk_old=Acme"])).toBe("started: 0")
  }, 120_000)

  it("a command going through cdp serve takes the spelling its --write-key names, as the server does", async () => {
    // Found probing: `cdp serve --write-key k=Acme`, then `cdp token create --tenant Acme` was refused (did you mean
    // "acme"?, another tenant) though the server takes "Acme"; only CDP_WRITE_KEYS in the command's own environment helped.
    const serve = await startServe(["--data-dir", dir, "--write-key", "wk_old=Acme"])
    try {
      const create = runCdp(["token", "create", "--role", "marketer", "--tenant", "Acme", "--data-dir", dir], { env: { CDP_WRITE_KEYS: undefined } })
      expect(create.stderr).toBe("")
      expect(create.status).toBe(0)
      const other = runCdp(["token", "list", "--tenant", "acme", "--data-dir", dir], { env: { CDP_WRITE_KEYS: undefined } })
      expect(other.stderr).toBe(`cdp: --tenant "acme" differs only in case from tenant "Acme": write it "Acme"\n`)
    } finally {
      expect(await serve.stop()).toBe(0)
    }
  }, 120_000)
})
