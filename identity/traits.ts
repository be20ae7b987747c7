// Which statement of a trait a profile shows. Sources are ranked per trait (CDP_TRAIT_PRECEDENCE): a statement from a
// higher-ranked source wins; among equals the latest by event time (then message id) wins, so neither arrival order
// nor a merge or split changes the outcome: traits are a function of the profile's messages.
import { storeTraitPrecedence } from "../warehouse/traits.ts"
import { IdentityRulesInvalid } from "./config.ts"

/**
 * Per tenant ("*" for every tenant), per trait ("*" for every trait): sources strongest first. A source is the
 * message's source (`segment`, `email`, `chat`, `calls`, ...), or `SOURCE:identified` for its messages that carry a
 * userId (a logged-in identify). Sources not listed rank below every listed one.
 */
export type TraitPrecedence = Readonly<Record<string, Readonly<Record<string, ReadonlyArray<string>>>>>

/** A logged-in identify (a CRM sync sends those too) beats what a chat pre-form, a signature or a form states. */
export const DEFAULT_TRAIT_PRECEDENCE: TraitPrecedence = { "*": { "*": ["segment:identified"] } }

/**
 * Corrections beat every configured source, whatever the setting says: a data subject's rectification (source `dsr`,
 * consent/dsr.ts) and an operator's value (source `operator`).
 */
export const ALWAYS_FIRST: ReadonlyArray<string> = ["dsr", "operator"]

const SOURCE = /^[a-z][a-z0-9_-]{0,63}(?::identified)?$/

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v)
const pointer = (...parts: ReadonlyArray<string | number>) => `/${parts.map((p) => String(p).replaceAll("~", "~0").replaceAll("/", "~1")).join("/")}`

/** Checks the setting's JSON text; throws IdentityRulesInvalid naming the first bad field. */
export const parseTraitPrecedence = (text: string): TraitPrecedence => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    throw new IdentityRulesInvalid("/", `not JSON: ${(e as Error).message}`)
  }
  if (!isObject(parsed)) throw new IdentityRulesInvalid("/", 'must be an object: {"*": {"*": ["segment:identified", ...]}, "<tenant>": {"<trait>": [...]}}')
  for (const [tenant, traits] of Object.entries(parsed)) {
    if (!isObject(traits)) throw new IdentityRulesInvalid(pointer(tenant), 'must be an object of source lists per trait ("*" for every trait)')
    for (const [trait, sources] of Object.entries(traits)) {
      if (!Array.isArray(sources)) throw new IdentityRulesInvalid(pointer(tenant, trait), "must be an array of sources, strongest first")
      sources.forEach((s, i) => {
        if (typeof s !== "string" || !SOURCE.test(s)) {
          throw new IdentityRulesInvalid(pointer(tenant, trait, i), 'must be a source name (e.g. "segment", "chat") or SOURCE:identified')
        }
      })
    }
  }
  return { ...DEFAULT_TRAIT_PRECEDENCE, ...(parsed as TraitPrecedence) }
}

/**
 * The sources of a tenant's trait, strongest first: corrections, then the tenant's list for the trait, else its "*"
 * list, else the "*" tenant's.
 */
export const sourcesFor = (p: TraitPrecedence, tenant: string, trait: string): ReadonlyArray<string> =>
  [...ALWAYS_FIRST, ...(listed(listed(p, tenant), trait) ?? listed(listed(p, tenant), "*") ?? listed(listed(p, "*"), trait) ?? listed(listed(p, "*"), "*") ?? [])]

/**
 * A key's own entry: trait and tenant names are the senders' words, and "constructor" or "toString" would read
 * Object.prototype's function (a profile read died on it).
 */
const listed = <V>(o: Readonly<Record<string, V>> | undefined, key: string): V | undefined =>
  o !== undefined && Object.hasOwn(o, key) ? o[key] : undefined

/** Higher is stronger; 0 for a source not listed. */
export const rankOf = (sources: ReadonlyArray<string>, source: string, identified: boolean): number => {
  const own = identified ? sources.indexOf(`${source}:identified`) : -1
  const plain = sources.indexOf(source)
  const best = own < 0 ? plain : plain < 0 ? own : Math.min(own, plain)
  return best < 0 ? 0 : sources.length - best
}

/** The latest statement of a trait from one source (identified or not), as profile reads aggregate them. */
export interface TraitStatement {
  readonly name: string
  /** The value's JSON text. */
  readonly value: string
  readonly source: string
  readonly identified: boolean
  /** ISO-8601 or the warehouse's "YYYY-MM-DD hh:mm:ss.sss" (compared as text: both sort by time). */
  readonly at: string
  readonly messageId: string
  /** When the trait was first stated at all (for the order traits are shown in). */
  readonly firstAt: string
}

export interface Trait {
  readonly value: unknown
  readonly source: string
  readonly at: string
}

/** Each trait's winning statement: highest-ranked source, then latest event time, then highest message id. */
export const mergeTraits = (statements: ReadonlyArray<TraitStatement>, p: TraitPrecedence, tenant: string): Record<string, Trait> => {
  const best = new Map<string, { s: TraitStatement; rank: number; first: string }>()
  for (const s of statements) {
    const rank = rankOf(sourcesFor(p, tenant, s.name), s.source, s.identified)
    const b = best.get(s.name)
    const first = b === undefined || s.firstAt < b.first ? s.firstAt : b.first
    const wins = b === undefined || rank > b.rank || (rank === b.rank && (s.at > b.s.at || (s.at === b.s.at && s.messageId > b.s.messageId)))
    best.set(s.name, wins ? { s, rank, first } : { ...b, first })
  }
  const out: Array<readonly [string, Trait]> = []
  for (const [name, { s }] of [...best].sort((x, y) => (x[1].first < y[1].first ? -1 : x[1].first > y[1].first ? 1 : 0))) {
    let value: unknown
    try {
      value = JSON.parse(s.value)
    } catch {
      continue
    }
    out.push([name, { value, source: s.source, at: s.at }])
  }
  // fromEntries defines each key as its own: assigning a trait named "__proto__" would set the prototype instead.
  return Object.fromEntries(out)
}

/** The lists as the warehouse keeps them for the `profiles` view: one row per (tenant, trait), corrections first. */
export const precedenceLists = (p: TraitPrecedence): Array<{ readonly scope: string; readonly trait: string; readonly sources: ReadonlyArray<string> }> =>
  Object.entries(p).flatMap(([scope, traits]) => Object.entries(traits).map(([trait, sources]) => ({ scope, trait, sources: [...ALWAYS_FIRST, ...sources] })))

/** Stores the setting for the `profiles` view, when it differs from what the warehouse holds. */
export const syncTraitPrecedence = (p: TraitPrecedence) => storeTraitPrecedence(precedenceLists(p))
