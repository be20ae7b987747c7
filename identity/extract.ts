// What a canonical message states about its sender, as normalised sightings with their trust. Which fields hold
// which identifier, and how far each source's identifiers are trusted, is configuration (IdentityConfig).
import type { CanonicalEvent, JsonObject } from "../ingest/message.ts"
import { withoutControlCharacters } from "../ingest/utf8.ts"
import type { Observation, Sighting, Trust } from "./graph.ts"
import type { CompiledBlockRules } from "./guardrails.ts"
import { type IdentifierKind, IDENTIFIER_KINDS, type NormaliseOptions, normaliseIdentifier } from "./normalise.ts"

export interface ExtractConfig {
  /** Trait names (top-level traits and context.traits) that hold an identifier, e.g. {"email": "email"}. */
  readonly traitIdentifiers: Readonly<Record<string, IdentifierKind>>
  /** Trust of identifiers a source states, per source and kind ("*" for any kind); default "verified". */
  readonly sourceTrust: Readonly<Record<string, Readonly<Partial<Record<IdentifierKind | "*", Trust>>>>>
  readonly normalise: NormaliseOptions
  readonly blocked: CompiledBlockRules
  /** Tenants with rules of their own (identity/config.ts); the others use this configuration. */
  readonly tenants?: ReadonlyMap<string, ExtractConfig>
}

/** The configuration a tenant's messages are read with. */
export const extractConfigFor = (config: ExtractConfig, tenant: string): ExtractConfig => config.tenants?.get(tenant) ?? config

export const DEFAULT_TRAIT_IDENTIFIERS: Readonly<Record<string, IdentifierKind>> = {
  email: "email", phone: "phone", mobile: "phone", twitter: "twitter_handle", twitter_handle: "twitter_handle",
  crm_id: "external_id", external_id: "external_id", device_id: "device_id",
}

/**
 * Trust per source: a SendGrid recipient, a mail's From, a caller id and an X author are observed by a system;
 * a value typed into a chat pre-form is not.
 */
export const DEFAULT_SOURCE_TRUST: ExtractConfig["sourceTrust"] = {
  chat: { email: "unverified", phone: "unverified" },
}

/** A sighting the guardrails refused, recorded with its reason instead of being linked. */
export interface RefusedSighting {
  readonly messageId: string
  readonly kind: IdentifierKind
  readonly raw: string
  readonly reason: string
}

/** Raw values are kept for display: a longer one is cut (it was refused or normalised anyway). */
const MAX_RAW = 512

/**
 * Said after a refusal's reason when its raw value is stored without its control characters (ingest/utf8.ts, as
 * other stored text is): what is shown is then not what was sent, so a rebuild never reads it again as if it were.
 */
export const CONTROLS_REMOVED = " (shown without its control characters)"

/**
 * A raw value as stored for display: cut, and without control characters (C0 but tab and line breaks, DEL, C1; VT,
 * FF and U+0085 a line feed). An accepted value holds none but a phone's (its digits are read), which reads the same.
 */
export const storedRaw = (value: string): { readonly raw: string; readonly cleaned: boolean } => {
  const { text, removed } = withoutControlCharacters(value.slice(0, MAX_RAW))
  return { raw: text, cleaned: removed > 0 }
}

/** A refused value as stored: raw without control characters, its reason saying so when some were removed. */
export const storedRefusal = (raw: string, reason: string): { readonly raw: string; readonly reason: string } => {
  const stored = storedRaw(raw)
  return stored.cleaned && !reason.endsWith(CONTROLS_REMOVED) ? { raw: stored.raw, reason: `${reason}${CONTROLS_REMOVED}` } : { raw: stored.raw, reason }
}

const text = (value: unknown): string | undefined =>
  typeof value === "string" ? value : typeof value === "number" && Number.isFinite(value) ? String(value) : undefined

export interface Extracted {
  readonly observation: Observation
  readonly refused: ReadonlyArray<RefusedSighting>
  /** Raw value of each sighting, as sent (for display; cut, without control characters), in the order of observation.sightings. */
  readonly raw: ReadonlyArray<string>
}

/** Sightings of one message, normalised and checked against the block list. */
export const extractSightings = (event: CanonicalEvent, all: ExtractConfig): Extracted => {
  const config = extractConfigFor(all, event.tenant)
  const sightings: Array<Sighting> = []
  const refused: Array<RefusedSighting> = []
  const raw: Array<string> = []
  const seen = new Set<string>()
  const add = (kind: IdentifierKind, value: string, trust: Trust) => {
    const n = normaliseIdentifier(kind, value, config.normalise)
    const reason = n.ok ? config.blocked.reasonFor(kind, n.value) : n.reason
    if (reason !== undefined || !n.ok) {
      refused.push({ messageId: event.messageId, kind, ...storedRefusal(value, reason ?? "not valid") })
      return
    }
    const key = `${kind}:${n.value}`
    if (seen.has(key)) return
    seen.add(key)
    raw.push(storedRaw(value).raw)
    sightings.push({ kind, value: n.value, trust })
  }
  const sourceTrust = config.sourceTrust[event.source]
  const trustOf = (kind: IdentifierKind): Trust => sourceTrust?.[kind] ?? sourceTrust?.["*"] ?? "verified"
  if (event.userId !== "") add("user_id", event.userId, "verified")
  if (event.anonymousId !== "") add("anonymous_id", event.anonymousId, trustOf("anonymous_id"))
  // alias: the previous id is the same person's earlier id (an anonymous id, or a user id being replaced).
  if (event.type === "alias" && event.previousId !== "") add(event.userId === "" ? "user_id" : "anonymous_id", event.previousId, "verified")
  const traitTrust: Trust = event.userId !== "" ? "stated" : "unverified"
  for (const traits of [event.traits, event.context["traits"] as JsonObject | undefined]) {
    if (traits === undefined || traits === null || typeof traits !== "object") continue
    for (const [name, kind] of Object.entries(config.traitIdentifiers)) {
      const value = text(traits[name])
      if (value !== undefined && value.trim() !== "") add(kind, value, traitTrust)
    }
  }
  for (const id of event.identifiers) {
    if (IDENTIFIER_KINDS.has(id.kind)) add(id.kind, id.value, id.trust ?? trustOf(id.kind))
  }
  const timeMs = Date.parse(event.timestamp)
  return { observation: { messageId: event.messageId, timeMs, sightings }, refused, raw }
}
