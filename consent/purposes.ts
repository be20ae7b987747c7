// Purposes and each tenant's consent policy: the lawful basis of every purpose, what it allows when nothing is known,
// what happens at ingest to a message a purpose does not allow, and how each signal (Segment categories, Sec-GPC,
// IAB US Privacy strings, SendGrid preferences, IAB TCF purposes) maps onto our purposes. One policy per tenant, "*" the default.
import { Context } from "effect"

export const LAWFUL_BASES = ["consent", "legitimate_interest", "contract", "legal_obligation", "vital_interests", "public_task"] as const
export type LawfulBasis = (typeof LAWFUL_BASES)[number]

/** What happens at ingest to a message its purpose does not allow. */
export const INGEST_ACTIONS = ["drop", "strip", "keep"] as const
export type IngestAction = (typeof INGEST_ACTIONS)[number]

export interface PurposePolicy {
  readonly basis: LawfulBasis
  /**
   * Whether the purpose may use a profile nobody has a signal for. Consent must be given (GDPR Art. 6(1)(a), 7), so a
   * consent-based purpose defaults to "not_granted"; other bases hold until the person objects (Art. 21).
   */
  readonly whenUnknown: "granted" | "not_granted"
  /** A message this purpose governs, of a person who refused, withdrew or objected. */
  readonly onDenied: IngestAction
  /**
   * A message this purpose governs, of a person with no signal while `whenUnknown` is "not_granted". Default "keep":
   * held but not used (every use asks `consentState`), so a choice made after the first page views can still apply.
   * "strip" or "drop" is the strict reading.
   */
  readonly onUnknown: IngestAction
}

export interface ConsentPolicy {
  readonly purposes: Readonly<Record<string, PurposePolicy>>
  /** Segment consent category name -> our purposes it stands for (the banner's names need not be ours). */
  readonly categories: Readonly<Record<string, ReadonlyArray<string>>>
  /** Channel -> the purpose that governs storing its messages; channels not named are not gated (e.g. support mail). */
  readonly channels: Readonly<Record<string, string>>
  /**
   * "CHANNEL/TYPE" (a message type: track, page, screen, identify, group, alias; CHANNEL may be "*") -> the purpose
   * that governs those messages instead of their channel's. Looked up as CHANNEL/TYPE, then the same TYPE on channel
   * "*", then `channels`. A tenant's `messages` replaces the default map whole (so a default rule can be dropped).
   */
  readonly messages: Readonly<Record<string, string>>
  /** Purposes a Global Privacy Control signal (`Sec-GPC: 1`) refuses: an opt-out of sale and sharing. */
  readonly gpc: ReadonlyArray<string>
  /**
   * Purposes an IAB US Privacy string's opt-out of sale ("1YYN") refuses. Not opted out ("1YNN") grants those of them
   * held on a basis other than consent (an opt-out framework asks for no consent, so it grants no consent-based one).
   */
  readonly usPrivacy: ReadonlyArray<string>
  /** SendGrid `consent_signal` -> purposes it refuses ("denied") or grants again ("granted"). */
  readonly sendgrid: Readonly<Record<string, { readonly state: "granted" | "denied"; readonly purposes: ReadonlyArray<string> }>>
  /**
   * Our purpose -> the IAB TCF v2 purposes (1-11) that must all be consented to (for a consent-based purpose) or
   * allowed by legitimate interest (otherwise) for it to count as granted. Purposes not listed are not read from TCF.
   */
  readonly tcf: Readonly<Record<string, ReadonlyArray<number>>>
  /** When set, a TCF string grants nothing unless this vendor (our GVL id) has consent too. */
  readonly tcfVendorId?: number | undefined
}

export const DEFAULT_PURPOSES = ["Analytics", "Advertising", "Personalization", "CrmSync", "SocialListening", "EmailMarketing"] as const

/**
 * A lookup table without a prototype. Its keys are looked up with names from messages and requests (a category in a
 * banner's preferences, a SendGrid signal, a purpose, a tenant): on a plain object "constructor" or "__proto__" would
 * find Object's own members and be taken for a setting.
 */
const table = <V>(entries: Readonly<Record<string, V>>): Record<string, V> =>
  Object.assign(Object.create(null) as Record<string, V>, entries)

const consentBased: PurposePolicy = { basis: "consent", whenUnknown: "not_granted", onDenied: "strip", onUnknown: "keep" }

export const DEFAULT_POLICY: ConsentPolicy = {
  purposes: table({
    Analytics: consentBased,
    Advertising: consentBased,
    Personalization: consentBased,
    CrmSync: consentBased,
    // Public posts about the brand: legitimate interest (Art. 6(1)(f)) until the author objects.
    SocialListening: { basis: "legitimate_interest", whenUnknown: "granted", onDenied: "strip", onUnknown: "keep" },
    // Mail to existing customers (soft opt-in) until they unsubscribe or report spam: a communication preference,
    // which does not touch the banner's purposes.
    EmailMarketing: { basis: "legitimate_interest", whenUnknown: "granted", onDenied: "keep", onUnknown: "keep" },
  }),
  categories: table({
    Analytics: ["Analytics"], Advertising: ["Advertising"], Personalization: ["Personalization"], CrmSync: ["CrmSync"],
    SocialListening: ["SocialListening"],
  }),
  channels: table({ web: "Analytics", social: "SocialListening" }),
  // A web identify or group call states who the visitor is (e-mail, name, company) to build the customer record that
  // is kept and synced to the CRM: that is CrmSync's processing, not measuring the site (Analytics). Page views and
  // tracked actions stay with Analytics.
  messages: table({ "web/identify": "CrmSync", "web/group": "CrmSync" }),
  gpc: ["Advertising"],
  usPrivacy: ["Advertising"],
  sendgrid: table({
    unsubscribe: { state: "denied", purposes: ["EmailMarketing"] },
    group_unsubscribe: { state: "denied", purposes: ["EmailMarketing"] },
    spamreport: { state: "denied", purposes: ["EmailMarketing"] },
    group_resubscribe: { state: "granted", purposes: ["EmailMarketing"] },
  }),
  // TCF v2.2 purposes: 1 store/access on a device, 2-4 and 7 advertising, 5-6 content personalisation, 8-9
  // measurement and audience statistics, 10 product development, 11 contextual content.
  tcf: table({ Analytics: [1, 8, 9], Advertising: [1, 2, 3, 4, 7], Personalization: [1, 5, 6] }),
}

export class ConsentPolicyInvalid extends Error {
  override readonly name = "ConsentPolicyInvalid"
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v)

const fail = (where: string, what: string): never => {
  throw new ConsentPolicyInvalid(`${where}: ${what}`)
}

const stringList = (v: unknown, where: string): ReadonlyArray<string> =>
  Array.isArray(v) && v.every((s) => typeof s === "string") ? v : fail(where, "must be an array of purpose names")

const oneOf = <T extends string>(v: unknown, options: ReadonlyArray<T>, where: string): T =>
  options.includes(v as T) ? v as T : fail(where, `must be one of ${options.join(", ")}`)

/** A policy with `patch` (a tenant's JSON object) laid over `base`; purposes are merged one by one. */
const overlay = (base: ConsentPolicy, patch: unknown, where: string): ConsentPolicy => {
  if (!isObject(patch)) return fail(where, "must be a JSON object")
  const known = new Set(["purposes", "categories", "channels", "messages", "gpc", "usPrivacy", "sendgrid", "tcf", "tcfVendorId"])
  for (const key of Object.keys(patch)) if (!known.has(key)) fail(`${where}.${key}`, `is not a setting (settings: ${[...known].join(", ")})`)
  const purposes: Record<string, PurposePolicy> = table(base.purposes)
  if (patch["purposes"] !== undefined) {
    if (!isObject(patch["purposes"])) fail(`${where}.purposes`, "must be an object of purpose name -> settings")
    for (const [name, p] of Object.entries(patch["purposes"] as Record<string, unknown>)) {
      const at = `${where}.purposes.${name}`
      if (p === null) {
        delete purposes[name]
        continue
      }
      if (!isObject(p)) fail(at, "must be an object (or null to remove the purpose)")
      const q = p as Record<string, unknown>
      const prior = purposes[name]
      const basis = q["basis"] === undefined ? prior?.basis ?? fail(at, "needs a basis") : oneOf(q["basis"], LAWFUL_BASES, `${at}.basis`)
      purposes[name] = {
        basis,
        whenUnknown: q["whenUnknown"] === undefined ? prior?.whenUnknown ?? (basis === "consent" ? "not_granted" : "granted")
          : oneOf(q["whenUnknown"], ["granted", "not_granted"] as const, `${at}.whenUnknown`),
        onDenied: q["onDenied"] === undefined ? prior?.onDenied ?? "strip" : oneOf(q["onDenied"], INGEST_ACTIONS, `${at}.onDenied`),
        onUnknown: q["onUnknown"] === undefined ? prior?.onUnknown ?? "keep" : oneOf(q["onUnknown"], INGEST_ACTIONS, `${at}.onUnknown`),
      }
    }
  }
  const setting = <V>(key: string, read: (v: unknown, at: string) => V): Record<string, V> | undefined => {
    const v = patch[key]
    if (v === undefined) return undefined
    if (!isObject(v)) return fail(`${where}.${key}`, "must be a JSON object")
    return table(Object.fromEntries(Object.entries(v).map(([k, x]) => [k, read(x, `${where}.${key}.${k}`)])))
  }
  const policy: ConsentPolicy = {
    purposes,
    categories: setting("categories", (v, at) => typeof v === "string" ? [v] : stringList(v, at)) ?? base.categories,
    channels: setting("channels", (v, at) => typeof v === "string" ? v : fail(at, "must be a purpose name")) ?? base.channels,
    messages: setting("messages", (v, at) => typeof v === "string" ? v : fail(at, "must be a purpose name")) ?? base.messages,
    gpc: patch["gpc"] === undefined ? base.gpc : stringList(patch["gpc"], `${where}.gpc`),
    usPrivacy: patch["usPrivacy"] === undefined ? base.usPrivacy : stringList(patch["usPrivacy"], `${where}.usPrivacy`),
    sendgrid: setting("sendgrid", (v, at) => {
      if (!isObject(v)) return fail(at, 'must be {"state": "granted"|"denied", "purposes": [...]}')
      return { state: oneOf(v["state"], ["granted", "denied"] as const, `${at}.state`), purposes: stringList(v["purposes"], `${at}.purposes`) }
    }) ?? base.sendgrid,
    tcf: setting("tcf", (v, at) =>
      Array.isArray(v) && v.every((n) => Number.isInteger(n) && n >= 1 && n <= 24) ? v as Array<number> : fail(at, "must be an array of TCF purpose numbers")) ?? base.tcf,
    tcfVendorId: patch["tcfVendorId"] === undefined ? base.tcfVendorId
      : Number.isInteger(patch["tcfVendorId"]) ? patch["tcfVendorId"] as number : fail(`${where}.tcfVendorId`, "must be a whole number"),
  }
  // Every purpose a mapping names must exist, so a typo cannot silently map a signal onto nothing.
  const names = new Set(Object.keys(policy.purposes))
  const check = (list: ReadonlyArray<string>, at: string) => {
    for (const p of list) if (!names.has(p)) fail(at, `names purpose "${p}", which is not one of ${[...names].join(", ")}`)
  }
  for (const [k, list] of Object.entries(policy.categories)) check(list, `${where}.categories.${k}`)
  for (const [k, p] of Object.entries(policy.channels)) check([p], `${where}.channels.${k}`)
  for (const [k, p] of Object.entries(policy.messages)) {
    if (!MESSAGE_KEY.test(k)) fail(`${where}.messages.${k}`, `is not CHANNEL/TYPE (TYPE one of ${MESSAGE_TYPES.join(", ")}; CHANNEL may be *)`)
    check([p], `${where}.messages.${k}`)
  }
  check(policy.gpc, `${where}.gpc`)
  check(policy.usPrivacy, `${where}.usPrivacy`)
  for (const [k, s] of Object.entries(policy.sendgrid)) check(s.purposes, `${where}.sendgrid.${k}`)
  check(Object.keys(policy.tcf), `${where}.tcf`)
  return policy
}

const MESSAGE_TYPES = ["track", "page", "screen", "identify", "group", "alias"] as const
const MESSAGE_KEY = new RegExp(`^(\\*|[a-z][a-z0-9_-]*)/(${MESSAGE_TYPES.join("|")})$`)

/** The purpose that governs storing a message of this channel and type, or undefined when none does. */
export const governingPurpose = (policy: ConsentPolicy, channel: string, type: string): string | undefined =>
  policy.messages[`${channel}/${type}`] ?? policy.messages[`*/${type}`] ?? policy.channels[channel]

/** The channels some of whose messages a purpose governs; undefined when every channel may hold some (a rule for "*"). */
export const channelsGovernedBy = (policy: ConsentPolicy, purpose: string): ReadonlyArray<string> | undefined => {
  const out = new Set(Object.entries(policy.channels).filter(([, p]) => p === purpose).map(([c]) => c))
  for (const [key, p] of Object.entries(policy.messages)) {
    if (p !== purpose) continue
    const channel = key.slice(0, key.indexOf("/"))
    if (channel === "*") return undefined
    out.add(channel)
  }
  return [...out]
}

/** Every tenant's policy: "*" for tenants not named. */
export interface ConsentPolicies {
  readonly "*": ConsentPolicy
  readonly [tenant: string]: ConsentPolicy
}

export const DEFAULT_POLICIES: ConsentPolicies = { "*": DEFAULT_POLICY }

/**
 * Reads the CDP_CONSENT JSON: {"*": {...}, "acme": {...}}, each laid over the defaults ("*" over the built-in
 * policy, a tenant over "*"). Throws ConsentPolicyInvalid naming the setting that is wrong.
 */
export const parseConsentPolicies = (value: Record<string, unknown>): ConsentPolicies => {
  const star = value["*"] === undefined ? DEFAULT_POLICY : overlay(DEFAULT_POLICY, value["*"], "*")
  const out: Record<string, ConsentPolicy> = table({ "*": star })
  for (const [tenant, patch] of Object.entries(value)) if (tenant !== "*") out[tenant] = overlay(star, patch, tenant)
  return out as ConsentPolicies
}

export const policyOf = (policies: ConsentPolicies, tenant: string): ConsentPolicy =>
  (Object.hasOwn(policies, tenant) ? policies[tenant] : undefined) ?? policies["*"]

/** The policies in force: the built-in defaults unless the command's layers provide the configured ones. */
export const ConsentPoliciesRef = Context.Reference<ConsentPolicies>("cdp/ConsentPolicies", { defaultValue: () => DEFAULT_POLICIES })
