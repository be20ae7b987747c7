// Identity rules per tenant, from one JSON setting (CDP_IDENTITY_RULES): e-mail provider rules, extra blocked values
// and patterns, which trait fields hold which identifier, and the regions national phone numbers are read in. "*"
// applies to every tenant; a tenant's entry is laid over it field by field. A rule change reaches stored data with
// `cdp identity rebuild`.
import { DEFAULT_GRAPH_RULES } from "./graph.ts"
import { type CompiledBlockRules, compileBlockRules, DEFAULT_BLOCK_RULES } from "./guardrails.ts"
import { DEFAULT_SOURCE_TRUST, DEFAULT_TRAIT_IDENTIFIERS, type ExtractConfig } from "./extract.ts"
import { DEFAULT_MAILBOX_RULES, type IdentifierKind, IDENTIFIER_KINDS, type MailboxRule, phoneRegionRefusal } from "./normalise.ts"
import type { IdentityConfig } from "./stage.ts"

type ByKind<A> = Readonly<Partial<Record<IdentifierKind | "*", A>>>

/** One entry of the setting (for "*" or one tenant); every field is optional. */
export interface TenantRules {
  /** Providers' mailbox rules (Gmail dots and +tags, googlemail.com, ...); default true. */
  readonly emailProviderRules?: boolean
  /** More domains' rules, or a provider's rule changed: {"corp.example": {"subaddressSeparator": "-"}}. */
  readonly mailboxRules?: Readonly<Record<string, MailboxRule>>
  /** Regions tried in order for national phone numbers; default CDP_PHONE_REGIONS. */
  readonly phoneRegions?: ReadonlyArray<string>
  /** Normalised values that must never link, per kind ("*" for every kind), added to the built-in list. */
  readonly blockedValues?: ByKind<ReadonlyArray<string>>
  /** Regular expressions on normalised values, per kind ("*" for every kind), added to the built-in ones. */
  readonly blockedPatterns?: ByKind<ReadonlyArray<string>>
  /** E-mail local parts no one person owns (office@, info@), added to the built-in ones. */
  readonly blockedEmailLocalParts?: ReadonlyArray<string>
  /** Trait fields (top-level and context.traits) that hold an identifier; null takes a built-in field away. */
  readonly identifierFields?: Readonly<Record<string, IdentifierKind | null>>
}

/** The setting: {"*": TenantRules, "<tenant>": TenantRules}. */
export type IdentityRules = Readonly<Record<string, TenantRules>>

/** A rule that cannot be used, with the JSON pointer of its field. */
export class IdentityRulesInvalid extends Error {
  readonly field: string
  readonly problem: string
  constructor(field: string, problem: string) {
    super(`${field}: ${problem}`)
    this.field = field
    this.problem = problem
  }
}

const FIELDS = new Set([
  "emailProviderRules", "mailboxRules", "phoneRegions", "blockedValues", "blockedPatterns", "blockedEmailLocalParts", "identifierFields",
])
const MAILBOX_FIELDS = new Set(["ignoreDots", "subaddressSeparator", "canonicalDomain"])

const pointer = (...parts: ReadonlyArray<string | number>) => `/${parts.map((p) => String(p).replaceAll("~", "~0").replaceAll("/", "~1")).join("/")}`
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v)

const stringList = (value: unknown, at: ReadonlyArray<string | number>, each?: (s: string, at: ReadonlyArray<string | number>) => void) => {
  if (!Array.isArray(value)) throw new IdentityRulesInvalid(pointer(...at), "must be an array of strings")
  value.forEach((s, i) => {
    if (typeof s !== "string" || s === "") throw new IdentityRulesInvalid(pointer(...at, i), "must be a non-empty string")
    each?.(s, [...at, i])
  })
}

const byKind = (value: unknown, at: ReadonlyArray<string | number>, each?: (s: string, at: ReadonlyArray<string | number>) => void) => {
  if (!isObject(value)) throw new IdentityRulesInvalid(pointer(...at), 'must be an object of lists per identifier kind ("*" for every kind)')
  for (const [kind, list] of Object.entries(value)) {
    if (kind !== "*" && !IDENTIFIER_KINDS.has(kind as IdentifierKind)) {
      throw new IdentityRulesInvalid(pointer(...at, kind), `unknown identifier kind (kinds: *, ${[...IDENTIFIER_KINDS].join(", ")})`)
    }
    stringList(list, [...at, kind], each)
  }
}

const checkPattern = (s: string, at: ReadonlyArray<string | number>) => {
  try {
    new RegExp(s, "i")
  } catch (e) {
    throw new IdentityRulesInvalid(pointer(...at), `not a regular expression (${(e as Error).message})`)
  }
}

const checkTenantRules = (rules: unknown, tenant: string): TenantRules => {
  if (!isObject(rules)) throw new IdentityRulesInvalid(pointer(tenant), "must be an object of rules")
  for (const [field, value] of Object.entries(rules)) {
    const at = [tenant, field]
    switch (field) {
      case "emailProviderRules":
        if (typeof value !== "boolean") throw new IdentityRulesInvalid(pointer(...at), "must be true or false")
        break
      case "mailboxRules":
        if (!isObject(value)) throw new IdentityRulesInvalid(pointer(...at), "must be an object of rules per e-mail domain")
        for (const [domain, rule] of Object.entries(value)) {
          if (!isObject(rule)) throw new IdentityRulesInvalid(pointer(...at, domain), "must be an object (ignoreDots, subaddressSeparator, canonicalDomain)")
          for (const [name, v] of Object.entries(rule)) {
            if (!MAILBOX_FIELDS.has(name)) throw new IdentityRulesInvalid(pointer(...at, domain, name), "unknown field (fields: ignoreDots, subaddressSeparator, canonicalDomain)")
            if (name === "ignoreDots" ? typeof v !== "boolean" : typeof v !== "string" || v === "") {
              throw new IdentityRulesInvalid(pointer(...at, domain, name), name === "ignoreDots" ? "must be true or false" : "must be a non-empty string")
            }
          }
        }
        break
      case "phoneRegions":
        stringList(value, at, (s, p) => {
          const refusal = phoneRegionRefusal(s)
          if (refusal !== undefined) throw new IdentityRulesInvalid(pointer(...p), refusal)
        })
        break
      case "blockedValues":
        byKind(value, at)
        break
      case "blockedPatterns":
        byKind(value, at, checkPattern)
        break
      case "blockedEmailLocalParts":
        stringList(value, at)
        break
      case "identifierFields":
        if (!isObject(value)) throw new IdentityRulesInvalid(pointer(...at), 'must be an object of trait field to identifier kind, e.g. {"work_email": "email"}')
        for (const [name, kind] of Object.entries(value)) {
          if (kind !== null && !IDENTIFIER_KINDS.has(kind as IdentifierKind)) {
            throw new IdentityRulesInvalid(pointer(...at, name), `must be an identifier kind (${[...IDENTIFIER_KINDS].join(", ")}) or null`)
          }
        }
        break
      default:
        throw new IdentityRulesInvalid(pointer(...at), `unknown field (fields: ${[...FIELDS].join(", ")})`)
    }
  }
  return rules as TenantRules
}

/** Checks the setting's JSON text; throws IdentityRulesInvalid naming the first bad field. */
export const parseIdentityRules = (text: string): IdentityRules => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    throw new IdentityRulesInvalid("/", `not JSON: ${(e as Error).message}`)
  }
  if (!isObject(parsed)) throw new IdentityRulesInvalid("/", 'must be an object: {"*": {rules}, "<tenant>": {rules}}')
  return Object.fromEntries(Object.entries(parsed).map(([tenant, rules]) => [tenant, checkTenantRules(rules, tenant)]))
}

const concatByKind = (a: ByKind<ReadonlyArray<string>>, b: ByKind<ReadonlyArray<string>> | undefined): ByKind<ReadonlyArray<string>> => {
  if (b === undefined) return a
  const out: Partial<Record<IdentifierKind | "*", ReadonlyArray<string>>> = { ...a }
  for (const [kind, list] of Object.entries(b) as Array<[IdentifierKind | "*", ReadonlyArray<string>]>) out[kind] = [...(out[kind] ?? []), ...list]
  return out
}

/** "*" then the tenant's entry, over the built-in defaults: lists add up, fields and maps are overridden per key. */
const effective = (layers: ReadonlyArray<TenantRules | undefined>, phoneRegions: ReadonlyArray<string>) => {
  let providerRules = true
  let mailbox: Record<string, MailboxRule> = {}
  let regions = phoneRegions
  let values = DEFAULT_BLOCK_RULES.values
  let patterns = DEFAULT_BLOCK_RULES.patterns
  let localParts = DEFAULT_BLOCK_RULES.emailLocalParts
  const fields: Record<string, IdentifierKind | null> = { ...DEFAULT_TRAIT_IDENTIFIERS }
  for (const layer of layers) {
    if (layer === undefined) continue
    if (layer.emailProviderRules !== undefined) providerRules = layer.emailProviderRules
    if (layer.mailboxRules !== undefined) mailbox = { ...mailbox, ...layer.mailboxRules }
    if (layer.phoneRegions !== undefined) regions = layer.phoneRegions.map((r) => r.toUpperCase())
    values = concatByKind(values, layer.blockedValues)
    patterns = concatByKind(patterns, layer.blockedPatterns)
    if (layer.blockedEmailLocalParts !== undefined) localParts = [...localParts, ...layer.blockedEmailLocalParts]
    Object.assign(fields, layer.identifierFields ?? {})
  }
  const traitIdentifiers = Object.fromEntries(Object.entries(fields).filter((e): e is [string, IdentifierKind] => e[1] !== null))
  return {
    traitIdentifiers,
    sourceTrust: DEFAULT_SOURCE_TRUST,
    normalise: { mailboxRules: { ...(providerRules ? DEFAULT_MAILBOX_RULES : {}), ...mailbox }, phoneRegions: regions },
    blocked: compileBlockRules({ values, patterns, emailLocalParts: localParts }),
  } satisfies ExtractConfig
}

/**
 * The pipeline's identity configuration: the "*" rules for every tenant, and each tenant named in the setting with
 * its own (extraction picks them by the message's tenant; block rules are asked with the tenant).
 */
export const identityConfigOf = (rules: IdentityRules = {}, phoneRegions: ReadonlyArray<string> = []): IdentityConfig => {
  const base = effective([rules["*"]], phoneRegions)
  const tenants = new Map<string, ExtractConfig>()
  for (const [tenant, own] of Object.entries(rules)) {
    if (tenant !== "*") tenants.set(tenant, effective([rules["*"], own], phoneRegions))
  }
  const blocked: CompiledBlockRules = {
    digest: [base.blocked.digest, ...[...tenants].sort(([a], [b]) => a < b ? -1 : 1).map(([t, c]) => `${t}=${c.blocked.digest}`)].join(" "),
    reasonFor: (kind, value, tenant) => ((tenant === undefined ? undefined : tenants.get(tenant)) ?? base).blocked.reasonFor(kind, value),
  }
  return { extract: { ...base, blocked, ...(tenants.size === 0 ? {} : { tenants }) }, rules: DEFAULT_GRAPH_RULES }
}
