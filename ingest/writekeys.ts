// Write keys: how a sender is authenticated and which tenant its messages belong to (a write key identifies a
// source, as in Segment; several sources may feed one tenant).
import { randomBytes, timingSafeEqual } from "node:crypto"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { TENANT_NAME, TENANT_NAME_RULE } from "../warehouse/tenant.ts"

export const DEFAULT_TENANT = "default"

/** One source: its write key, its tenant, and (for browser senders) the web origins it accepts. */
export interface WriteKeyEntry {
  readonly writeKey: string
  readonly tenant: string
  /** Origins (`https://shop.example`) whose pages may send with this key; undefined: any origin, as Segment's default. */
  readonly origins?: ReadonlyArray<string> | undefined
}

export interface WriteKeys {
  /** The tenant of a write key, or undefined when the key is unknown. */
  readonly tenantOf: (writeKey: string) => string | undefined
  /** Whether a page on `origin` (a request's Origin header) may send with this known write key. */
  readonly originAllowed: (writeKey: string, origin: string) => boolean
  readonly keys: ReadonlyArray<WriteKeyEntry>
}

/**
 * Parses `KEY` or `KEY=TENANT` specs (from --write-key or CDP_WRITE_KEYS, comma separated). An empty spec is a
 * mistake (a stray comma, an unset shell variable), never "no key": it would silently fall back to the generated key.
 */
export const parseWriteKeySpecs = (specs: ReadonlyArray<string>): Array<{ writeKey: string; tenant: string }> =>
  uniqueWriteKeys(specs.flatMap((whole) => whole.split(",").map((s) => s.trim()).map((spec) => {
    if (spec === "") {
      throw new Error(whole.trim() === ""
        ? "a write key spec is empty: give KEY or KEY=TENANT"
        : `write key spec "${whole}" has an empty entry: give KEY or KEY=TENANT, comma separated`)
    }
    const [writeKey, tenant] = spec.split("=", 2) as [string, string | undefined]
    if (writeKey.trim() === "") throw new Error(`write key spec "${spec}" has no key`)
    if (tenant !== undefined && !TENANT_NAME.test(tenant)) {
      throw new Error(`tenant "${tenant}" must be ${TENANT_NAME_RULE}`)
    }
    return { writeKey: writeKey.trim(), tenant: tenant ?? DEFAULT_TENANT }
  })))

/**
 * The entries, each key once: a key given twice for one tenant is kept once; a key given for two tenants is refused,
 * since which tenant its messages belong to would be a guess.
 */
export const uniqueWriteKeys = <E extends { readonly writeKey: string; readonly tenant: string }>(entries: ReadonlyArray<E>): Array<E> => {
  const byKey = new Map<string, E>()
  for (const e of entries) {
    const seen = byKey.get(e.writeKey)
    if (seen === undefined) byKey.set(e.writeKey, e)
    else if (seen.tenant !== e.tenant) {
      throw new Error(`write key "${e.writeKey}" is given for two tenants ("${seen.tenant}" and "${e.tenant}"): a key belongs to one tenant`)
    }
  }
  return [...byKey.values()]
}

/** An origin as browsers send it in the Origin header: scheme, lower-case host, and a port only when not the default. */
export const normaliseOrigin = (origin: string): string => {
  const trimmed = origin.trim().replace(/\/+$/, "")
  let url: URL
  try {
    url = new URL(trimmed)
  } catch {
    throw new Error(`allowed origin "${origin}" is not a URL: write it as https://host or https://host:port`)
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new Error(`allowed origin "${origin}" must start with https:// or http://`)
  }
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw new Error(`allowed origin "${origin}" must be only scheme, host and port (no path, query or user), e.g. ${url.origin}`)
  }
  return url.origin
}

/**
 * Parses per-key origin allow-lists, `KEY=ORIGIN|ORIGIN` (from CDP_ALLOWED_ORIGINS or --allowed-origins, comma
 * separated): `wk_shop=https://shop.example|https://www.shop.example`.
 */
export const parseAllowedOriginSpecs = (specs: ReadonlyArray<string>): Map<string, ReadonlyArray<string>> => {
  const byKey = new Map<string, Array<string>>()
  for (const spec of specs.flatMap((s) => s.split(",")).map((s) => s.trim()).filter((s) => s !== "")) {
    const eq = spec.indexOf("=")
    const key = eq === -1 ? "" : spec.slice(0, eq).trim()
    const origins = eq === -1 ? [] : spec.slice(eq + 1).split("|").map((o) => o.trim()).filter((o) => o !== "")
    if (key === "" || origins.length === 0) {
      throw new Error(`allowed origins spec "${spec}" must be KEY=ORIGIN|ORIGIN, e.g. KEY=https://shop.example`)
    }
    byKey.set(key, [...(byKey.get(key) ?? []), ...origins.map(normaliseOrigin)])
  }
  return byKey
}

/** The entries with their allow-lists; an allow-list for a key that is not configured is a mistake worth naming. */
export const withAllowedOrigins = (
  entries: ReadonlyArray<WriteKeyEntry>,
  originsByKey: ReadonlyMap<string, ReadonlyArray<string>>,
): Array<WriteKeyEntry> => {
  for (const key of originsByKey.keys()) {
    if (!entries.some((e) => e.writeKey === key)) {
      throw new Error(`allowed origins are given for write key "${key}", which is not configured: configure it too (--write-key or CDP_WRITE_KEYS)`)
    }
  }
  return entries.map((e) => {
    const origins = originsByKey.get(e.writeKey)
    return origins === undefined ? e : { ...e, origins: [...(e.origins ?? []), ...origins] }
  })
}

export const writeKeys = (entries: ReadonlyArray<WriteKeyEntry>): WriteKeys => {
  uniqueWriteKeys(entries)
  const byKey = new Map(entries.map((e) => [e.writeKey, e.tenant]))
  const originsByKey = new Map(entries.flatMap((e) => (e.origins === undefined ? [] : [[e.writeKey, new Set(e.origins.map(normaliseOrigin))] as const])))
  return {
    keys: entries,
    originAllowed: (writeKey, origin) => originsByKey.get(writeKey)?.has(origin.toLowerCase()) ?? true,
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
