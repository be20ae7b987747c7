// Computed traits by configuration (CDP_COMPUTED_TRAITS): per tenant ("*" for every tenant), named values computed
// from a profile's events: counts and sums in a window of days, the first or last value of a property, the most
// frequent value, the latest sentiment. Kept current incrementally by the warehouse (materialized views into an
// AggregatingMergeTree, migration 075); a new or changed definition is backfilled once from what has landed.
import { createHash } from "node:crypto"
import { Ajv, type JSONSchemaType, type ValidateFunction } from "ajv"
import { Effect } from "effect"
import {
  type Aggregates, definitionsInForce, exactAggregates, landedProfiles, previewAggregates, stateAggregates, stateAggregatesColumns, type StoredDefinition, storeDefinition,
  tenantDefinitions,
} from "../warehouse/computed-traits.ts"
import type { ReadScope } from "../warehouse/profiles.ts"
import { TENANT_NAME_RULE } from "../warehouse/tenant.ts"
import { notAChannel } from "../ingest/message.ts"
import { IdentityRulesInvalid } from "./config.ts"
import { cutText } from "./cut-text.ts"
import { eachStep, inSlices, mapSteps, sortSteps } from "./slices.ts"

export const COMPUTED_KINDS = ["count", "sum", "first", "last", "most_frequent", "latest_sentiment"] as const
export type ComputedKind = (typeof COMPUTED_KINDS)[number]

export interface ComputedTraitDefinition {
  readonly name: string
  readonly kind: ComputedKind
  /** Only these events (by name); all when absent. */
  readonly events?: ReadonlyArray<string>
  /** Only these channels; all when absent. */
  readonly channels?: ReadonlyArray<string>
  /** What the value is: `properties.NAME` (a top-level property), `event` or `channel`. Needed except by count and latest_sentiment. */
  readonly of?: string
  /** Count or sum the last N days only (today included); most_frequent too. */
  readonly windowDays?: number
}

export type ComputedTraits = Readonly<Record<string, ReadonlyArray<ComputedTraitDefinition>>>

const definitionSchema: JSONSchemaType<ComputedTraitDefinition> = {
  type: "object",
  additionalProperties: false,
  required: ["name", "kind"],
  properties: {
    name: { type: "string", pattern: "^[a-z][a-z0-9_]{0,63}$" },
    kind: { type: "string", enum: [...COMPUTED_KINDS] },
    events: { type: "array", items: { type: "string", minLength: 1, maxLength: 200 }, minItems: 1, maxItems: 50, nullable: true },
    channels: { type: "array", items: { type: "string", pattern: "^[a-z][a-z0-9_-]{0,39}$" }, minItems: 1, maxItems: 20, nullable: true },
    of: { type: "string", pattern: "^(event|channel|properties\\.[A-Za-z0-9_$ -]{1,100})$", nullable: true },
    windowDays: { type: "integer", minimum: 1, maximum: 3650, nullable: true },
  },
  // Each kind's rules apply once a kind is given (`required` in each `if`): without one, ajv ran them first and a
  // definition of no kind was refused for a missing `of`, not for its missing kind.
  allOf: [
    { if: { required: ["kind"], properties: { kind: { enum: ["sum", "first", "last", "most_frequent"] } } }, then: { required: ["of"] } },
    { if: { required: ["kind"], properties: { kind: { enum: ["first", "last", "latest_sentiment"] } } }, then: { not: { required: ["windowDays"] } } },
    { if: { required: ["kind"], properties: { kind: { const: "latest_sentiment" } } }, then: { not: { anyOf: [{ required: ["of"] }, { required: ["events"] }] } } },
    // A sum adds numbers: of an event's name or its channel it would always be 0.
    { if: { required: ["kind"], properties: { kind: { const: "sum" } } }, then: { properties: { of: { not: { enum: ["event", "channel"] } } } } },
  ],
} as unknown as JSONSchemaType<ComputedTraitDefinition>

const settingSchema: JSONSchemaType<Record<string, Array<ComputedTraitDefinition>>> = {
  type: "object",
  required: [],
  // "*" or a tenant name (warehouse/tenant.ts TENANT_NAME): a scope no tenant can have would define nothing.
  propertyNames: { pattern: "^(\\*|(?!\\.\\.?$)[A-Za-z0-9_.-]{1,64})$" },
  // How many a tenant may have is CDP_MAX_COMPUTED_TRAITS (capComputedTraits), counted with those for "*".
  additionalProperties: { type: "array", items: definitionSchema },
} as unknown as JSONSchemaType<Record<string, Array<ComputedTraitDefinition>>>

// Compiled on first use: most commands never read a definition.
let validators: { setting: ValidateFunction<Record<string, Array<ComputedTraitDefinition>>>; definition: ValidateFunction<ComputedTraitDefinition> } | undefined
const compiled = () => {
  if (validators !== undefined) return validators
  const ajv = new Ajv({ allErrors: false, strict: false })
  return validators = { setting: ajv.compile(settingSchema), definition: ajv.compile(definitionSchema) }
}

const RULES: Record<string, string> = {
  required: "is missing",
  additionalProperties: "is not a field of a computed trait (name, kind, events, channels, of, windowDays)",
  enum: `must be one of ${COMPUTED_KINDS.join(", ")}`,
}

/** A readable reason from ajv's first error: the JSON pointer and the rule, in words. */
const reasonOf = (errors: ValidateFunction["errors"]): [string, string] => {
  const e = errors?.[0]
  if (e === undefined) return ["/", "is not valid"]
  const at = e.keyword === "required" ? `${e.instancePath}/${(e.params as { missingProperty: string }).missingProperty}`
    : e.keyword === "additionalProperties" ? `${e.instancePath}/${(e.params as { additionalProperty: string }).additionalProperty.slice(0, 80)}` : e.instancePath || "/"
  if (e.keyword === "pattern" && /\/name$/.test(e.instancePath)) return [at, "must be a lowercase name: a letter, then letters, digits or _ (at most 64)"]
  if (e.keyword === "not" && /\/of$/.test(e.instancePath)) return [at, "sum adds numbers: of must be properties.NAME (a numeric property)"]
  if (e.keyword === "pattern" && /\/of$/.test(e.instancePath)) return [at, 'must be "event", "channel" or "properties.NAME" (a top-level property)']
  if (e.keyword === "propertyNames" || (e.keyword === "pattern" && e.propertyName !== undefined)) {
    const name = (e.params as { propertyName?: string }).propertyName ?? e.propertyName ?? ""
    return [`/${name.slice(0, 80)}`, `must be "*" (every tenant) or a tenant name: ${TENANT_NAME_RULE}`]
  }
  // The windowDays rule (allOf/1) names the field; latest_sentiment's (allOf/2) is about of or events, either.
  if (e.keyword === "not" && e.schemaPath.startsWith("#/allOf/1/")) return [`${e.instancePath}/windowDays`, "first, last and latest_sentiment take no windowDays"]
  if (e.keyword === "not" || e.keyword === "if") return [at, "first, last and latest_sentiment take no windowDays; latest_sentiment takes no of or events"]
  if (e.keyword === "required" && /\/of$/.test(at)) return [at, "is needed by sum, first, last and most_frequent: which value (e.g. properties.total)"]
  return [at, RULES[e.keyword] ?? (e.message ?? "is not valid")]
}

/**
 * Throws naming the first of `d.channels` that is no channel (`"calls"` for `call`): it would count nothing, ever, as
 * an audience condition naming one is refused (identity/audiences/condition.ts unknownChannel).
 */
const checkChannels = (d: ComputedTraitDefinition, at: string) => {
  for (const [i, channel] of (d.channels ?? []).entries()) {
    const reason = notAChannel(channel)
    if (reason !== undefined) throw new IdentityRulesInvalid(`${at}/channels/${i}`, reason)
  }
}

/** Checks CDP_COMPUTED_TRAITS' JSON text; throws IdentityRulesInvalid naming the first bad field. */
export const parseComputedTraits = (text: string): ComputedTraits => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    throw new IdentityRulesInvalid("/", `not JSON: ${(e as Error).message}`)
  }
  const { setting } = compiled()
  if (!setting(parsed)) {
    const [at, reason] = reasonOf(setting.errors)
    throw new IdentityRulesInvalid(at, reason)
  }
  const global = new Set((parsed["*"] ?? []).map((d) => d.name))
  for (const [scope, defs] of Object.entries(parsed)) {
    const seen = new Set<string>()
    for (const [i, d] of defs.entries()) {
      checkChannels(d, `/${scope}/${i}`)
      if (seen.has(d.name) || (scope !== "*" && global.has(d.name))) {
        throw new IdentityRulesInvalid(`/${scope}/${i}/name`, `"${d.name}" is defined twice (for this tenant or for "*")`)
      }
      seen.add(d.name)
    }
  }
  return parsed
}

/** What the setting's schema allowed per scope before the cap was a setting. */
export const DEFAULT_MAX_COMPUTED_TRAITS = 200

/**
 * Refuses a tenant with more than `max` computed traits, those for "*" counted in (CDP_MAX_COMPUTED_TRAITS): each is
 * kept current as events land and backfilled when it changes, so their number bounds the work of every insert.
 */
export const capComputedTraits = (traits: ComputedTraits, max: number): ComputedTraits => {
  const everyone = traits["*"]?.length ?? 0
  for (const [scope, defs] of Object.entries(traits)) {
    const count = defs.length + (scope === "*" ? 0 : everyone)
    if (count > max) {
      throw new IdentityRulesInvalid(`/${scope}`, `${scope === "*" ? "every tenant gets" : `tenant "${scope}" gets`} ${count} computed traits${scope === "*" ? "" : ' (with those for "*")'}; CDP_MAX_COMPUTED_TRAITS allows at most ${max} per tenant`)
    }
  }
  return traits
}

/** Checks one definition (`cdp traits preview --definition`); throws IdentityRulesInvalid naming the bad field. */
export const parseDefinition = (text: string): ComputedTraitDefinition => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    throw new IdentityRulesInvalid("/", `not JSON: ${(e as Error).message}`)
  }
  // The schema's conditional rules (which kind takes which field) would be the first to fail on anything else.
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new IdentityRulesInvalid("/", 'must be a JSON object: {"name", "kind", "events"?, "channels"?, "of"?, "windowDays"?}')
  }
  const { definition } = compiled()
  if (!definition(parsed)) {
    const [at, reason] = reasonOf(definition.errors)
    throw new IdentityRulesInvalid(at, reason)
  }
  checkChannels(parsed, "")
  return parsed
}

/**
 * How the warehouse reads an event's value (warehouse/computed-traits.ts, migration 082): 2 since a blank one (the
 * empty event name of an identify or a page, a property set to "") states nothing; 1 counted it as the value "".
 */
const VALUE_RULES = 2

/** The definition as the warehouse keeps it; its version changes whenever what it computes changes. */
export const storedDefinition = (scope: string, d: ComputedTraitDefinition): StoredDefinition => {
  const of = d.of ?? ""
  const body = {
    kind: d.kind, events: [...(d.events ?? [])].sort(), channels: [...(d.channels ?? [])].sort(),
    field: of === "" ? "" : of.startsWith("properties.") ? "property" : of, property: of.startsWith("properties.") ? of.slice("properties.".length) : "",
    window_days: d.windowDays ?? 0,
  }
  // 63 bits of a SHA-256: a UInt64 the engine's JSON reads back exactly as text. VALUE_RULES is hashed too: when what
  // counts as a value changes, every definition is a new version, backfilled by the new rule.
  const hashed = JSON.stringify({ ...body, rules: VALUE_RULES })
  const version = (BigInt(`0x${createHash("sha256").update(hashed).digest("hex").slice(0, 16)}`) >> 1n).toString()
  return { scope, name: d.name, version, ...body }
}

/**
 * Brings the warehouse's definitions in line with the setting: a new or changed definition is stored and
 * backfilled (states of its old version are left behind, unread), a removed one retired. Returns what changed.
 */
export const syncComputedTraits = Effect.fn("syncComputedTraits")(function* (setting: ComputedTraits) {
  const stored = yield* definitionsInForce()
  const wanted = Object.entries(setting).flatMap(([scope, defs]) => defs.map((d) => storedDefinition(scope, d)))
  const key = (d: { scope: string; name: string }) => `${d.scope}\u0000${d.name}`
  const have = new Map(stored.map((d) => [key(d), d]))
  const changed: Array<string> = []
  for (const d of wanted) {
    if (have.get(key(d))?.version === d.version) continue
    yield* storeDefinition(d, true)
    changed.push(`${d.scope}/${d.name}`)
  }
  const keep = new Set(wanted.map(key))
  for (const d of stored) {
    if (keep.has(key(d))) continue
    yield* storeDefinition(d, false)
    changed.push(`${d.scope}/${d.name} (retired)`)
  }
  return changed
})

export interface ComputedTrait {
  readonly value: unknown
  readonly kind: string
  /** Matching events counted (in the window for count, sum and most_frequent). */
  readonly events: number
}

const parsed = (json: string): unknown => {
  if (json === "") return null
  try {
    return JSON.parse(json)
  } catch {
    return json
  }
}

/** A trait's value from its aggregates. */
export const valueOf = (kind: string, a: Pick<Aggregates, "n" | "total" | "first" | "last" | "counts">): unknown => {
  switch (kind) {
    case "count": return Number(a.n)
    case "sum": return Number(a.total)
    case "first": return parsed(a.first)
    case "last":
    case "latest_sentiment": return parsed(a.last)
    case "most_frequent": {
      const [keys, counts] = a.counts
      let best = -1
      for (let i = 0; i < keys.length; i++) if (best < 0 || Number(counts[i]) > Number(counts[best])) best = i
      return best < 0 ? null : parsed(keys[best]!)
    }
    default: return null
  }
}

/**
 * A profile's computed traits now: from the states of the profiles its messages landed under when those are whole
 * in it (no split took part of one elsewhere), otherwise computed from its own events. Every trait in force is
 * shown, with null (count and sum: 0) when none of its events are there.
 */
export const profileComputedTraits = Effect.fn("profileComputedTraits")(function* (scope: ReadScope) {
  const definitions = yield* tenantDefinitions(scope.tenant)
  if (definitions.length === 0) return {}
  const { landed, whole } = yield* landedProfiles(scope)
  const rows = whole ? yield* stateAggregates(scope.tenant, landed, definitions) : yield* exactAggregates(scope, definitions)
  return traitsOf(definitions, rows)
})

/**
 * A profile's computed traits from the states of its landing profiles when they are whole in it, aggregated as
 * stateAggregatesColumns' column holds them (read for many profiles at once: profile documents).
 */
export const computedTraitsOfStates = Effect.fn("computedTraitsOfStates")(function* (tenant: string, value: unknown) {
  const definitions = yield* tenantDefinitions(tenant)
  return traitsOf(definitions, stateAggregatesColumns(tenant, [], definitions).decode(value))
})

const traitsOf = (definitions: ReadonlyArray<StoredDefinition>, rows: ReadonlyArray<Aggregates>) => {
  const byName = new Map(rows.map((r) => [r.name, r]))
  const out: Record<string, ComputedTrait> = {}
  for (const d of definitions) {
    const a = byName.get(d.name)
    out[d.name] = a === undefined
      ? { value: d.kind === "count" || d.kind === "sum" ? 0 : null, kind: d.kind, events: 0 }
      : { value: valueOf(d.kind, a), kind: d.kind, events: Number(a.n) }
  }
  return out
}

/**
 * profileComputedTraits as columns of a profile read's one statement, when the scope already says its landing
 * profiles are whole in it (their states add up to its values): the columns and what reads their values. Undefined
 * when the traits need reads of their own (none in force: nothing to read; a split or moved-in messages: the count of
 * the landing profiles, or the events themselves): then profileComputedTraits reads them.
 */
export const computedTraitsColumns = Effect.fn("computedTraitsColumns")(function* (scope: ReadScope) {
  const definitions = yield* tenantDefinitions(scope.tenant)
  if (definitions.length === 0 || scope.landed === undefined || scope.whole !== true) return undefined
  const { columns, params, decode } = stateAggregatesColumns(scope.tenant, Object.keys(scope.landed), definitions)
  return { columns, params, traits: (values: Readonly<Record<string, unknown>>) => traitsOf(definitions, decode(values["computed"])) }
})

export interface Preview {
  readonly tenant: string
  readonly definition: ComputedTraitDefinition
  /** Profiles with at least one matching event. */
  readonly profiles: number
  readonly sample: ReadonlyArray<{ readonly profileId: string; readonly value: unknown; readonly events: number }>
  /** Numbers: min, quartiles, p90, max, mean; other values: the most common ones with how many profiles have each. */
  readonly distribution:
    | { readonly type: "number"; readonly min: number; readonly p25: number; readonly p50: number; readonly p75: number; readonly p90: number; readonly max: number; readonly mean: number }
    | { readonly type: "values"; readonly top: ReadonlyArray<{ readonly value: unknown; readonly profiles: number }> }
    | { readonly type: "none" }
}

const quantile = (sorted: ReadonlyArray<number>, q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

/** What a definition would show, before it is saved: values for a sample of a tenant's profiles and their distribution. */
const shownValue = (v: unknown): unknown => typeof v === "string" ? cutText(v) : v

/**
 * A preview as it is shown (the route, after masking; the command): each text value of the sample and of the most
 * common cut at PREVIEW_TEXT_CHARS, as an audience preview shows a value seen (notes of 30,000 characters were answered
 * whole, twice each: a sample of 1,000 would be 30 MB).
 */
export const shownPreview = <P extends { readonly sample: ReadonlyArray<{ readonly value: unknown }>; readonly distribution: unknown }>(p: P): P => {
  const d = p.distribution as { readonly type?: string; readonly top?: ReadonlyArray<{ readonly value: unknown }> }
  return {
    ...p,
    sample: p.sample.map((s) => ({ ...s, value: shownValue(s.value) })),
    distribution: d.type === "values" && d.top !== undefined ? { ...d, top: d.top.map((t) => ({ ...t, value: shownValue(t.value) })) } : p.distribution,
  }
}

export const previewComputedTrait = Effect.fn("previewComputedTrait")(function* (
  tenant: string, definition: ComputedTraitDefinition, sample = 10, seconds?: number,
) {
  const d = storedDefinition(tenant, definition)
  const rows = yield* previewAggregates(tenant, d, seconds)
  // Every profile of the tenant, so in slices (identity/slices.ts): made at once, the values and their distribution held
  // cdp serve's event loop, every tenant's requests and landing, for 601 ms of CPU at 300,000 profiles.
  const values = yield* inSlices(mapSteps(rows, (r) => ({ profileId: r.profile_id, value: valueOf(d.kind, r), events: Number(r.n) })))
  const numbers = yield* inSlices(sortSteps(values.map((v) => v.value).filter((v): v is number => typeof v === "number"), (a, b) => a - b))
  let distribution: Preview["distribution"]
  if (values.length === 0) distribution = { type: "none" }
  else if (numbers.length === values.length) {
    distribution = {
      type: "number", min: numbers[0]!, p25: quantile(numbers, 0.25), p50: quantile(numbers, 0.5), p75: quantile(numbers, 0.75),
      p90: quantile(numbers, 0.9), max: numbers[numbers.length - 1]!, mean: numbers.reduce((s, n) => s + n, 0) / numbers.length,
    }
  } else {
    const counts = new Map<string, number>()
    yield* inSlices(eachStep(values, (v) => {
      const key = JSON.stringify(v.value)
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }))
    const ranked = yield* inSlices(sortSteps([...counts], (a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)))
    distribution = { type: "values", top: ranked.slice(0, 10).map(([v, n]) => ({ value: JSON.parse(v) as unknown, profiles: n })) }
  }
  return { tenant, definition, profiles: values.length, sample: values.slice(0, sample), distribution } satisfies Preview
})
