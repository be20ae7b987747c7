// The consent signals a message carries, mapped onto the tenant's purposes: Segment's categoryPreferences (on every
// message, and the "Segment Consent Preference Updated" event), the Global Privacy Control header (the edge writes
// `context.gpc`), SendGrid's unsubscribes and spam reports (`properties.consent_signal`), and IAB TCF v2 strings.
// Each signal keeps what was read as its proof (never an identifier).
import { createRequire } from "node:module"
import type { TCString } from "@iabtcf/core"
import type { CanonicalEvent, JsonObject } from "../ingest/message.ts"
import type { ConsentPolicy, LawfulBasis } from "./purposes.ts"

// @iabtcf/core (about fifty modules) is loaded with the first TCF string: most commands never read one.
const requireCjs = createRequire(import.meta.url)
let tcf: typeof TCString | undefined
const tcStrings = (): typeof TCString => tcf ??= (requireCjs("@iabtcf/core") as { TCString: typeof TCString }).TCString

export const PREFERENCE_UPDATED = "Segment Consent Preference Updated"

export type ConsentSource = "segment_preferences" | "segment_preference_updated" | "gpc" | "sendgrid" | "tcf" | "operator"

export interface ConsentSignal {
  readonly purpose: string
  readonly state: "granted" | "denied"
  readonly basis: LawfulBasis
  readonly source: ConsentSource
  /** What was read, as JSON text: the categories, the TCF string, the header, the SendGrid event kind. */
  readonly proof: string
  /** An explicit act (an update event, an unsubscribe): recorded even when it repeats the state in force. */
  readonly explicit: boolean
}

const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === "object" && !Array.isArray(v)

/** Where TCF strings travel: Segment's consent object, IAB's `gdpr_consent` parameter, or properties. */
const tcfStringOf = (e: CanonicalEvent): string | undefined => {
  const consent = isObject(e.context["consent"]) ? e.context["consent"] : undefined
  const candidates = [consent?.["tcf"], consent?.["tcString"], consent?.["gdpr_consent"], e.context["gdpr_consent"], e.properties["gdpr_consent"]]
  const found = candidates.find((c) => typeof c === "string" && c.trim() !== "")
  return found as string | undefined
}

/** A TCF string's grants for the purposes the policy maps; a string that does not decode grants nothing. */
export const readTcf = (tcString: string, policy: ConsentPolicy): ReadonlyArray<{ purpose: string; state: "granted" | "denied" }> => {
  let model: ReturnType<typeof TCString.decode>
  try {
    model = tcStrings().decode(tcString.trim())
  } catch {
    return []
  }
  const vendorOk = policy.tcfVendorId === undefined || model.vendorConsents.has(policy.tcfVendorId)
  const out: Array<{ purpose: string; state: "granted" | "denied" }> = []
  for (const [purpose, tcfPurposes] of Object.entries(policy.tcf)) {
    const p = policy.purposes[purpose]
    if (p === undefined) continue
    const allowedBy = p.basis === "consent" ? model.purposeConsents : model.purposeLegitimateInterests
    // Purpose 1 (storage on a device) can only be consented to, whatever the basis of the rest.
    const granted = vendorOk && tcfPurposes.every((n) => (n === 1 ? model.purposeConsents : allowedBy).has(n))
    out.push({ purpose, state: granted ? "granted" : "denied" })
  }
  return out
}

/** Every consent signal of a message, per purpose (a purpose appears once: the strictest reading of the message). */
export const readSignals = (e: CanonicalEvent, policy: ConsentPolicy): ReadonlyArray<ConsentSignal> => {
  const out = new Map<string, ConsentSignal>()
  const add = (purpose: string, state: "granted" | "denied", source: ConsentSource, proof: string, explicit: boolean) => {
    const p = policy.purposes[purpose]
    if (p === undefined) return
    const prior = out.get(purpose)
    // One message saying both: a refusal wins (GPC beside a banner's yes, a TCF string beside categories).
    if (prior !== undefined && (prior.state === "denied" || state === "granted")) return
    out.set(purpose, { purpose, state, basis: p.basis, source, proof, explicit })
  }
  const consent = isObject(e.context["consent"]) ? e.context["consent"] : undefined
  const prefs = consent !== undefined && isObject(consent["categoryPreferences"]) ? consent["categoryPreferences"] : undefined
  if (prefs !== undefined) {
    const updated = e.type === "track" && e.event === PREFERENCE_UPDATED
    const proof = JSON.stringify({ categoryPreferences: prefs })
    for (const [category, value] of Object.entries(prefs)) {
      if (typeof value !== "boolean") continue
      for (const purpose of policy.categories[category] ?? []) {
        add(purpose, value ? "granted" : "denied", updated ? "segment_preference_updated" : "segment_preferences", proof, updated)
      }
    }
  }
  if (e.context["gpc"] === true) {
    for (const purpose of policy.gpc) add(purpose, "denied", "gpc", JSON.stringify({ header: "Sec-GPC: 1" }), false)
  }
  const signal = e.properties["consent_signal"]
  if (typeof signal === "string") {
    const mapped = policy.sendgrid[signal]
    const group = e.properties["asm_group_id"]
    const proof = JSON.stringify({ consent_signal: signal, ...(group === undefined ? {} : { asm_group_id: group }) })
    for (const purpose of mapped?.purposes ?? []) add(purpose, mapped!.state, "sendgrid", proof, true)
  }
  const tcf = tcfStringOf(e)
  if (tcf !== undefined) {
    const proof = JSON.stringify({ tcf })
    for (const r of readTcf(tcf, policy)) add(r.purpose, r.state, "tcf", proof, false)
  }
  return [...out.values()]
}
