// Write keys: how a sender is authenticated and which tenant its messages belong to (a write key identifies a
// source, as in Segment; several sources may feed one tenant).
import { randomBytes, timingSafeEqual } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"

export const DEFAULT_TENANT = "default"

export interface WriteKeys {
  /** The tenant of a write key, or undefined when the key is unknown. */
  readonly tenantOf: (writeKey: string) => string | undefined
  readonly keys: ReadonlyArray<{ readonly writeKey: string; readonly tenant: string }>
}

/** Parses `KEY` or `KEY=TENANT` specs (from --write-key or CDP_WRITE_KEYS, comma separated). */
export const parseWriteKeySpecs = (specs: ReadonlyArray<string>): Array<{ writeKey: string; tenant: string }> =>
  specs
    .flatMap((s) => s.split(","))
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((spec) => {
      const [writeKey, tenant] = spec.split("=", 2) as [string, string | undefined]
      if (writeKey.trim() === "") throw new Error(`write key spec "${spec}" has no key`)
      if (tenant !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(tenant)) {
        throw new Error(`tenant "${tenant}" must be 1-64 letters, digits, '.', '_' or '-'`)
      }
      return { writeKey: writeKey.trim(), tenant: tenant ?? DEFAULT_TENANT }
    })

export const writeKeys = (entries: ReadonlyArray<{ writeKey: string; tenant: string }>): WriteKeys => {
  const byKey = new Map(entries.map((e) => [e.writeKey, e.tenant]))
  return {
    keys: entries,
    tenantOf: (candidate) => {
      const tenant = byKey.get(candidate)
      if (tenant !== undefined) return tenant
      // Unknown key: compare against each real key in constant time anyway, so timing does not leak near misses.
      const probe = Buffer.from(candidate)
      for (const e of entries) {
        const real = Buffer.from(e.writeKey)
        if (real.length === probe.length) timingSafeEqual(real, probe)
      }
      return undefined
    },
  }
}

/**
 * The write key of a data directory when none is configured: generated once and kept in the directory, so a
 * restarted collector accepts the senders it accepted before.
 */
export const dataDirWriteKey = (dataDir: string): string => {
  const file = join(dataDir, "write-key")
  if (existsSync(file)) return readFileSync(file, "utf8").trim()
  mkdirSync(dataDir, { recursive: true })
  const key = `wk_${randomBytes(18).toString("base64url")}`
  writeFileSync(file, `${key}\n`, { mode: 0o600 })
  return key
}
