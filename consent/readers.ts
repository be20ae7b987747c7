// The consent signals a message carries, mapped onto the tenant's purposes: Segment's categoryPreferences (on every
// message, and the "Segment Consent Preference Updated" event), the Global Privacy Control header (the edge writes
// `context.gpc`), IAB US Privacy strings (CCPA), SendGrid's unsubscribes and spam reports
// (`properties.consent_signal`), IAB TCF v2 strings, and IAB GPP strings (their TCF EU section read as a TCF string,
// their US sections' opt-outs as a US Privacy string's).
// Each signal keeps what was read as its proof (never an identifier).
import { createRequire } from "node:module"
import type { GppModel } from "@iabgpp/cmpapi"
import type { TCString } from "@iabtcf/core"
import type { CanonicalEvent, JsonObject } from "../ingest/message.ts"
import type { ConsentPolicy, LawfulBasis } from "./purposes.ts"

// @iabtcf/core (about fifty modules) is loaded with the first TCF string: most commands never read one.
const requireCjs = createRequire(import.meta.url)
let tcf: typeof TCString | undefined
const tcStrings = (): typeof TCString => tcf ??= (requireCjs("@iabtcf/core") as { TCString: typeof TCString }).TCString
// @iabgpp/cmpapi likewise, with the first GPP string.
let gpp: typeof GppModel | undefined
const gppModels = (): typeof GppModel => gpp ??= (requireCjs("@iabgpp/cmpapi") as { GppModel: typeof GppModel }).GppModel

export const PREFERENCE_UPDATED = "Segment Consent Preference Updated"

export type ConsentSource = "segment_preferences" | "segment_preference_updated" | "gpc" | "us_privacy" | "sendgrid" | "tcf" | "gpp" | "operator"

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

/** The first non-blank string of `places` (each a field's JSON pointer and its value), with its field. */
const firstString = (places: ReadonlyArray<readonly [string, unknown]>): { readonly field: string; readonly text: string } | undefined => {
  const found = places.find(([, c]) => typeof c === "string" && c.trim() !== "")
  return found === undefined ? undefined : { field: found[0], text: found[1] as string }
}

/** Where TCF strings travel: Segment's consent object, IAB's `gdpr_consent` parameter, or properties. */
const tcfStringOf = (e: CanonicalEvent) => {
  const consent = isObject(e.context["consent"]) ? e.context["consent"] : undefined
  return firstString([
    ["/context/consent/tcf", consent?.["tcf"]], ["/context/consent/tcString", consent?.["tcString"]],
    ["/context/consent/gdpr_consent", consent?.["gdpr_consent"]], ["/context/gdpr_consent", e.context["gdpr_consent"]],
    ["/properties/gdpr_consent", e.properties["gdpr_consent"]],
  ])
}

/**
 * An IAB US Privacy string (CCPA): version 1, then explicit notice, opt-out of sale and LSPA coverage, each Y, N or
 * "-" (not applicable). Version 1 is the only one the specification has.
 */
export const US_PRIVACY = /^1[YN-]{3}$/i

/**
 * Where US Privacy strings travel: Segment's consent object beside the TCF string (`usPrivacy`, as `tcString` is
 * named, or `us_privacy`), or IAB's `us_privacy` parameter on the context or in properties.
 */
const usPrivacyOf = (e: CanonicalEvent): string | undefined => {
  const consent = isObject(e.context["consent"]) ? e.context["consent"] : undefined
  const candidates = [consent?.["usPrivacy"], consent?.["us_privacy"], e.context["us_privacy"], e.properties["us_privacy"]]
  return candidates.find((c) => typeof c === "string" && c.trim() !== "") as string | undefined
}

/**
 * Where IAB GPP strings travel: Segment's consent object beside the TCF string (`gpp`, or `gppString` as `tcString` is
 * named), or IAB's `gpp` parameter on the context or in properties.
 */
const gppStringOf = (e: CanonicalEvent) => {
  const consent = isObject(e.context["consent"]) ? e.context["consent"] : undefined
  return firstString([
    ["/context/consent/gpp", consent?.["gpp"]], ["/context/consent/gppString", consent?.["gppString"]],
    ["/context/gpp", e.context["gpp"]], ["/properties/gpp", e.properties["gpp"]],
  ])
}

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
/**
 * Vendor ids a TCF string's vendor vectors may name in all (a vendor list holds about 1,500, so four full vectors
 * 6,000; each vector at most 65,535). @iabtcf/core sets each, about 1 µs apiece: 20,000 cost some 16 ms.
 */
const MAX_TCF_VENDOR_IDS = 20_000
/**
 * Vendor ids its publisher restrictions may name in all (a restriction of the whole list is about 1,500).
 * @iabtcf/core adds them in quadratic time: 65,535 took 7 s, 9,999 about 180 ms, 2,000 about 25 ms.
 */
const MAX_TCF_RESTRICTED_IDS = 2_000

/**
 * Decoding work, counted from what a string names before it is decoded (not timed: the count of a string is the same
 * on an idle machine and a loaded one). A unit is about a microsecond of one idle core's decoding (@iabtcf/core 1.5.6
 * and @iabgpp/cmpapi 3 on Node 24, each rate rounded up): a string read costs WORK_PER_STRING, each of its characters
 * 1/4 (reading its bits), each vendor id a range or a bit field sets 1/10, each vector's highest id 1/50 (the readers
 * walk every id to it), and each (purpose, restriction type) tree of n restricted ids n + n²/1000 (@iabtcf/core adds
 * them to an unbalanced binary tree: 1,999 in one took 4.5 ms). A real string counts a few hundred units; one
 * restricting vendors 1-1,999 about 6,000.
 */
const WORK_PER_STRING = 30
const WORK_PER_CHARACTER = 1 / 4
const WORK_PER_ID_SET = 1 / 10
const WORK_PER_ID_WALKED = 1 / 50
const restrictionTreeWork = (ids: number) => ids + (ids * ids) / 1000
/** A GPP section the readers decode with @iabgpp/cmpapi (a US one): under 100 µs each, whatever its length. */
const WORK_PER_GPP_SECTION = 100

/**
 * The work decoding the string takes (see WORK_PER_STRING), and whether it would cost more than any real one:
 * @iabtcf/core sets every id of every range of its vendor vectors and publisher restrictions (a range is 33 bits, up to
 * 65,535 ids), synchronously, so a 54-character string held the pipeline 7 s and a 30 KB one minutes. Counts the ids
 * from the ranges' bounds alone (TCF v1 and v2 core segments, and the disclosed and allowed vendors segments); the
 * decoder still checks everything else.
 */
const tcfWork = (tcString: string): { readonly work: number; readonly tooCostly: boolean } => {
  let vendorIds = 0
  let restrictedIds = 0
  let work = WORK_PER_STRING + tcString.length * WORK_PER_CHARACTER
  /** Restricted ids per purpose and restriction type: each is one tree of the decoder's. */
  const restrictionTrees = new Map<number, number>()
  const counted = (tooCostly: boolean) => {
    for (const ids of restrictionTrees.values()) work += restrictionTreeWork(ids)
    return { work: Math.ceil(work), tooCostly }
  }
  const segments = tcString.split(".")
  for (let s = 0; s < segments.length; s++) {
    let bits = ""
    for (const ch of segments[s]!) {
      const v = BASE64URL.indexOf(ch)
      if (v < 0) return counted(false) // not base64url: the decoder refuses it at once
      bits += v.toString(2).padStart(6, "0")
    }
    let at = 0
    const int = (n: number) => {
      const v = at + n <= bits.length ? parseInt(bits.slice(at, at + n), 2) : -1
      at += n
      return v
    }
    /** The ids `count` range entries name, read until the bits run out (where the decoder stops too). */
    const ranges = (count: number) => {
      let ids = 0
      for (let i = 0; i < count && at < bits.length; i++) {
        const isRange = int(1)
        const from = int(16)
        const to = isRange === 1 ? int(16) : from
        if (from < 0 || to < 0) break
        ids += Math.max(1, to - from + 1)
      }
      return ids
    }
    const vector = (version: number) => {
      const maxId = int(16)
      work += Math.max(0, maxId) * WORK_PER_ID_WALKED
      if (int(1) !== 1) {
        // A bit field: as long as the string, each bit read and each id set.
        at += Math.max(0, maxId)
        work += Math.max(0, maxId) * WORK_PER_ID_SET
        return 0
      }
      if (version === 1) at += 1 // the default consent bit
      const ids = ranges(int(12))
      work += ids * WORK_PER_ID_SET
      return ids
    }
    if (s === 0) {
      const version = int(6)
      if (version === 1) {
        at = 156
        vendorIds += vector(1)
      } else if (version === 2) {
        at = 213
        vendorIds += vector(2) + vector(2)
        const restrictions = int(12)
        for (let r = 0; r < restrictions && at < bits.length; r++) {
          const tree = int(8) // purpose id, restriction type
          const ids = ranges(int(12))
          restrictedIds += ids
          restrictionTrees.set(tree, (restrictionTrees.get(tree) ?? 0) + ids)
        }
      }
    } else {
      const type = int(3)
      if (type === 1 || type === 2) vendorIds += vector(2) // disclosed vendors, allowed vendors
    }
    if (vendorIds > MAX_TCF_VENDOR_IDS || restrictedIds > MAX_TCF_RESTRICTED_IDS) return counted(true)
  }
  return counted(false)
}

/**
 * What the readers take from a decoded TCF string: the TCF purposes consented to and allowed on legitimate interest,
 * and the vendors consented to as a bitset (a few KB for the longest list a string may name; the decoded model held
 * far more), so that many strings fit among those read lately.
 */
interface TcfGrants {
  readonly purposeConsents: ReadonlySet<number>
  readonly purposeLegitimateInterests: ReadonlySet<number>
  readonly vendorConsents: Uint8Array
}

type TcfReading = { readonly grants: TcfGrants } | { readonly problem: string }

const vendorConsented = (grants: TcfGrants, vendorId: number): boolean =>
  vendorId >= 0 && ((grants.vendorConsents[vendorId >> 3] ?? 0) & (1 << (vendorId & 7))) !== 0

const grantsOf = (model: ReturnType<typeof TCString.decode>): TcfGrants => {
  const ids = (vector: { forEach: (f: (value: boolean, id: number) => void) => void }) => {
    const out = new Set<number>()
    vector.forEach((value, id) => { if (value) out.add(id) })
    return out
  }
  const vendors = new Uint8Array((model.vendorConsents.maxId >> 3) + 1)
  model.vendorConsents.forEach((value, id) => { if (value) vendors[id >> 3]! |= 1 << (id & 7) })
  return { purposeConsents: ids(model.purposeConsents), purposeLegitimateInterests: ids(model.purposeLegitimateInterests), vendorConsents: vendors }
}

/**
 * Strings read lately: a browser sends its string with every message, and the edge and the consent stage both read
 * it. Enough that the stage finds what the edge read even when a burst of requests brought thousands of others in
 * between (each request's decoding is bounded, CONSENT_BUDGET_WORK, not the number of requests); at most about 7 KB each.
 */
const tcfReadings = new Map<string, TcfReading>()
const CACHED_TCF_STRINGS = 4096
/** Longer strings are decoded each time rather than held (a real one is a few hundred characters). */
const CACHED_TCF_CHARS = 4096

/**
 * The decoding work (see WORK_PER_STRING) one request (a batch of up to 2,500 messages) may cause with consent strings
 * (TCF and GPP alike) not decoded lately: about 200 ms of an idle core. A TCF string under the caps above can still
 * cost 25 ms (@iabtcf/core is synchronous), so 2,500 distinct ones held `cdp serve`'s event loop, every tenant's
 * requests and /health, for a minute. A real string counts a few hundred units; a browser sends the same one with
 * every message, so a batch holds few distinct strings. Counted rather than timed: a time budget refused more strings
 * the busier the machine was (a request's answer depended on other work), and the stall it bounds is of work done.
 */
export const CONSENT_BUDGET_WORK = 200_000
/**
 * The CPU time of this thread one request may spend decoding, a backstop for costs the count does not see (a shape of
 * string no one measured, another version of a decoder): twice what the counted budget takes. CPU time rather than
 * wall-clock, so it too does not shrink on a loaded machine (a thread waiting for a core spends none).
 */
export const CONSENT_BUDGET_CPU_MS = 400

/**
 * What one request has spent decoding consent strings, whatever their kind (see CONSENT_BUDGET_WORK): made per
 * request, spent as strings are read. Messages read with no sender to answer (a file, the archive) are read under
 * budgets of the same size one after another (consent/pacing.ts ConsentPacer): `per` says which.
 */
export interface ConsentBudget {
  readonly per: "request" | "message"
  /** Work counted (see WORK_PER_STRING). */
  spent: number
  /** CPU time of this thread spent decoding, in ms. */
  cpuMs: number
  /** Distinct strings decoded (not found among those decoded lately). */
  decoded: number
  readonly limit: number
  readonly cpuLimitMs: number
}

export interface ConsentBudgetLimits {
  readonly work?: number
  readonly cpuMs?: number
}

export const consentBudget = (limits: ConsentBudgetLimits = {}, per: ConsentBudget["per"] = "request"): ConsentBudget =>
  ({ per, spent: 0, cpuMs: 0, decoded: 0, limit: limits.work ?? CONSENT_BUDGET_WORK, cpuLimitMs: limits.cpuMs ?? CONSENT_BUDGET_CPU_MS })

/** Whether the budget is spent: a string not decoded lately would be refused. */
export const consentBudgetSpent = (budget: ConsentBudget): boolean => budget.spent >= budget.limit || budget.cpuMs >= budget.cpuLimitMs

/** Whether reading this TCF string would decode it although `budget` is spent (a string decoded lately costs nothing). */
export const tcfOverBudget = (tcString: string, budget: ConsentBudget): boolean =>
  consentBudgetSpent(budget) && !tcfReadings.has(tcString.trim())

/** Whether reading this GPP string would decode it although `budget` is spent (one decoded lately costs nothing). */
export const gppOverBudget = (gppString: string, budget: ConsentBudget): boolean =>
  consentBudgetSpent(budget) && !gppReadings.has(gppString.trim())

/**
 * This thread's CPU time in ms; 0 where Node cannot tell it (process.threadCpuUsage came in 23.9; cdp runs on 22.12
 * and later): there the counted budget applies alone (the whole process's time would count the warehouse's threads).
 */
const threadCpuMs = (): number => {
  if (typeof process.threadCpuUsage !== "function") return 0
  const { user, system } = process.threadCpuUsage()
  return (user + system) / 1000
}

/** Decodings under way (a GPP string's TCF section is read inside its GPP string's): the outermost times the CPU. */
let decoding = 0

/**
 * A consent string's reading: from `cache` when read lately, else decoded (and kept, unless longer than any real
 * string), its work and CPU time charged to `budget`.
 */
const cachedReading = <R>(cache: Map<string, R>, text: string, decode: () => { readonly reading: R; readonly work: number }, budget: ConsentBudget | undefined): R => {
  const cached = cache.get(text)
  if (cached !== undefined) return cached
  const outermost = budget !== undefined && decoding === 0
  const started = outermost ? threadCpuMs() : 0
  decoding++
  let decoded: { readonly reading: R; readonly work: number }
  try {
    decoded = decode()
  } finally {
    decoding--
  }
  if (text.length <= CACHED_TCF_CHARS) {
    if (cache.size >= CACHED_TCF_STRINGS) cache.delete(cache.keys().next().value!)
    cache.set(text, decoded.reading)
  }
  if (budget !== undefined) {
    budget.spent += decoded.work
    if (outermost) budget.cpuMs += threadCpuMs() - started
    budget.decoded++
  }
  return decoded.reading
}

const decodeTcf = (text: string): { readonly reading: TcfReading; readonly work: number } => {
  const { work, tooCostly } = tcfWork(text)
  // Refused undecoded: only its characters were read.
  if (tooCostly) {
    return { reading: { problem: "its vendor ranges name more vendor ids than any vendor list holds" }, work: WORK_PER_STRING + text.length * WORK_PER_CHARACTER }
  }
  try {
    return { reading: { grants: grantsOf(tcStrings().decode(text)) }, work }
  } catch (e) {
    return { reading: { problem: decoderProblem(e, "its bits do not hold the fields a TCF string has") }, work }
  }
}

/**
 * Why a decoder refused a string, in a sender's words: its own message ("invalid bit length"), or `notThere` when it
 * ran into a JavaScript error instead ("Cannot read properties of undefined (reading 'forEach')").
 */
const decoderProblem = (e: unknown, notThere: string): string => {
  if (e instanceof TypeError || e instanceof RangeError) return notThere
  const why = String((e as Error).message ?? e)
  return why.length > 100 ? `${why.slice(0, 100)}…` : why
}

const readTcfString = (tcString: string, budget?: ConsentBudget): TcfReading => {
  const text = tcString.trim()
  return cachedReading(tcfReadings, text, () => decodeTcf(text), budget)
}

/**
 * Why a TCF string cannot be read (it does not decode, or would cost more to decode than any real one); undefined
 * when it can. The edge refuses such a string (bad_consent) rather than land its message as if no choice was made.
 */
export const tcfProblem = (tcString: string, budget?: ConsentBudget): string | undefined => {
  const reading = readTcfString(tcString, budget)
  return "problem" in reading ? reading.problem : undefined
}

/**
 * A TCF string's grants for the purposes the policy maps; a string that does not decode grants nothing. Decoding it
 * (when not decoded lately) is charged to `budget`, when given.
 */
export const readTcf = (tcString: string, policy: ConsentPolicy, budget?: ConsentBudget): ReadonlyArray<{ purpose: string; state: "granted" | "denied" }> => {
  const reading = readTcfString(tcString, budget)
  if ("problem" in reading) return []
  const grants = reading.grants
  const vendorOk = policy.tcfVendorId === undefined || vendorConsented(grants, policy.tcfVendorId)
  const out: Array<{ purpose: string; state: "granted" | "denied" }> = []
  for (const [purpose, tcfPurposes] of Object.entries(policy.tcf)) {
    const p = policy.purposes[purpose]
    if (p === undefined) continue
    const allowedBy = p.basis === "consent" ? grants.purposeConsents : grants.purposeLegitimateInterests
    // Purpose 1 (storage on a device) can only be consented to, whatever the basis of the rest.
    const granted = vendorOk && tcfPurposes.every((n) => (n === 1 ? grants.purposeConsents : allowedBy).has(n))
    out.push({ purpose, state: granted ? "granted" : "denied" })
  }
  return out
}

/** Every consent signal of a message, per purpose (a purpose appears once: the strictest reading of the message). */
export const readSignals = (e: CanonicalEvent, policy: ConsentPolicy): ReadonlyArray<ConsentSignal> =>
  signalsOf(e, policy, undefined) as ReadonlyArray<ConsentSignal>

/** A consent string of a message that was not decoded: the budget it was read under was spent before it. */
export interface ConsentNotDecoded {
  /** Its field, as a JSON pointer ("/context/consent/tcf"). */
  readonly field: string
  readonly kind: "TCF" | "GPP"
}

/**
 * readSignals under a decoding budget (the consent stage's: consent/stage.ts): a TCF or GPP string not decoded lately
 * is decoded only while `budget` is not spent, and charged to it. When one is not, the message's signals would be
 * read in part (a withdrawal in that string lost): what was not decoded is returned instead.
 */
export const readSignalsWithin = (e: CanonicalEvent, policy: ConsentPolicy, budget: ConsentBudget): ReadonlyArray<ConsentSignal> | { readonly notDecoded: ConsentNotDecoded } =>
  signalsOf(e, policy, budget)

const signalsOf = (e: CanonicalEvent, policy: ConsentPolicy, budget: ConsentBudget | undefined): ReadonlyArray<ConsentSignal> | { readonly notDecoded: ConsentNotDecoded } => {
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
  const usPrivacy = usPrivacyOf(e)?.trim()
  if (usPrivacy !== undefined && US_PRIVACY.test(usPrivacy)) {
    const optOut = usPrivacy[2]!.toUpperCase()
    const proof = JSON.stringify({ usPrivacy })
    for (const purpose of policy.usPrivacy) {
      if (optOut === "Y") add(purpose, "denied", "us_privacy", proof, false)
      // "N": the person has not opted out; that is no consent, so it grants only a purpose held on another basis.
      else if (optOut === "N" && policy.purposes[purpose]?.basis !== "consent") add(purpose, "granted", "us_privacy", proof, false)
    }
  }
  // Only SendGrid's own events (ingest/sources/sendgrid.ts sets it): in a web message it is whatever a page sent with
  // the site's public write key, and the ledger would name SendGrid as its proof.
  const signal = e.source === "sendgrid" ? e.properties["consent_signal"] : undefined
  if (typeof signal === "string") {
    const mapped = policy.sendgrid[signal]
    const group = e.properties["asm_group_id"]
    const proof = JSON.stringify({ consent_signal: signal, ...(group === undefined ? {} : { asm_group_id: group }) })
    for (const purpose of mapped?.purposes ?? []) add(purpose, mapped!.state, "sendgrid", proof, true)
  }
  const tcfFound = tcfStringOf(e)
  if (tcfFound !== undefined) {
    const tcf = tcfFound.text
    if (budget !== undefined && tcfOverBudget(tcf, budget)) return { notDecoded: { field: tcfFound.field, kind: "TCF" } }
    const proof = JSON.stringify({ tcf })
    for (const r of readTcf(tcf, policy, budget)) add(r.purpose, r.state, "tcf", proof, false)
  }
  const gppFound = gppStringOf(e)
  const gppText = gppFound?.text
  if (gppFound !== undefined && budget !== undefined && gppOverBudget(gppFound.text, budget)) return { notDecoded: { field: gppFound.field, kind: "GPP" } }
  const gppRead = gppText === undefined ? undefined : readGppString(gppText, budget)
  if (gppRead !== undefined && !("problem" in gppRead)) {
    const proof = JSON.stringify({ gpp: gppText })
    if (gppRead.tcf !== undefined) for (const r of readTcf(gppRead.tcf, policy, budget)) add(r.purpose, r.state, "gpp", proof, false)
    for (const purpose of policy.usPrivacy) {
      if (gppRead.usOptOut === "Y") add(purpose, "denied", "gpp", proof, false)
      // Not opted out is no consent (as a US Privacy string's N): it grants only a purpose held on another basis.
      else if (gppRead.usOptOut === "N" && policy.purposes[purpose]?.basis !== "consent") add(purpose, "granted", "gpp", proof, false)
    }
  }
  return [...out.values()]
}

/**
 * A GPP string's sections, from its header: a version 1 header (type 3), then its section ids as a Fibonacci-coded
 * range, which @iabgpp/cmpapi expands one id at a time, so a header of a few characters could name a billion
 * sections. Counted here from the bounds first: more ids than the string has sections is no GPP string.
 */
const gppSectionIds = (header: string, sections: number): ReadonlyArray<number> | string => {
  let bits = ""
  for (const ch of header) {
    const v = BASE64URL.indexOf(ch)
    if (v < 0) return "its header is not base64url"
    bits += v.toString(2).padStart(6, "0")
  }
  if (parseInt(bits.slice(0, 6), 2) !== 3 || parseInt(bits.slice(6, 12), 2) !== 1) return "its header is not a GPP version 1 header"
  let at = 24
  /** A Fibonacci-coded integer (ends at the first "11"), or -1 when the bits run out. */
  const fibonacci = (): number => {
    const end = bits.indexOf("11", at)
    if (end < 0) return -1
    let value = 0
    let a = 1
    let b = 2
    for (let i = at; i <= end; i++) {
      if (bits[i] === "1") value += a
      ;[a, b] = [b, a + b]
    }
    at = end + 2
    return value
  }
  const count = parseInt(bits.slice(12, 24), 2)
  const ids: Array<number> = []
  let offset = 0
  for (let i = 0; i < count; i++) {
    if (at >= bits.length) return "its header ends inside its section ids"
    const isRange = bits[at++] === "1"
    const from = fibonacci()
    if (from < 0) return "its header ends inside its section ids"
    offset += from
    const start = offset
    if (isRange) {
      const to = fibonacci()
      if (to < 0) return "its header ends inside its section ids"
      offset += to
    }
    if (offset - start + 1 + ids.length > sections) return `its header names more sections than the ${sections} it holds`
    for (let id = start; id <= offset; id++) ids.push(id)
  }
  if (ids.length !== sections) return `its header names ${ids.length} sections, and it holds ${sections}`
  return ids
}

/** What a GPP string says that the readers map: its TCF EU section (a TCF string) and its US sections' opt-outs. */
type GppReading =
  | { readonly tcf?: string; readonly usOptOut?: "Y" | "N" }
  | { readonly problem: string }

const gppReadings = new Map<string, GppReading>()
const TCF_EU_SECTION = 2
const USP_SECTION = 6
/** US sections (national and each state's) name their opt-outs alike: 1 opted out, 2 did not, 0 not applicable. */
const US_OPT_OUT_FIELDS = ["SaleOptOut", "SharingOptOut", "TargetedAdvertisingOptOut"] as const
const FIRST_US_SECTION = 7
const LAST_US_SECTION = 63

const decodeGpp = (text: string, budget?: ConsentBudget): GppReading => {
  const parts = text.split("~")
  const ids = gppSectionIds(parts[0]!, parts.length - 1)
  if (typeof ids === "string") return { problem: ids }
  let tcfSection: string | undefined
  let optedOut = false
  let notOptedOut = false
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!
    const raw = parts[i + 1]!
    if (raw.trim() === "") return { problem: `its section ${i + 1} is blank` }
    if (id === TCF_EU_SECTION) {
      // Read as any TCF string: the same caps, cache and budget, and @iabtcf/core as the decoder.
      const problem = tcfProblem(raw, budget)
      if (problem !== undefined) return { problem: `its TCF EU section: ${problem}` }
      tcfSection = raw
      continue
    }
    if (id !== USP_SECTION && (id < FIRST_US_SECTION || id > LAST_US_SECTION)) continue // not read: not decoded
    try {
      const model = new (gppModels())()
      model.decodeSectionById(id, raw)
      if (id === USP_SECTION) {
        const sale = model.getFieldValueBySectionId(id, "OptOutSale")
        if (sale === "Y") optedOut = true
        else if (sale === "N") notOptedOut = true
        continue
      }
      for (const field of US_OPT_OUT_FIELDS) {
        if (!model.hasFieldBySectionId(id, field)) continue
        const value = model.getFieldValueBySectionId(id, field)
        if (value === 1) optedOut = true
        else if (value === 2) notOptedOut = true
      }
    } catch (e) {
      return { problem: decoderProblem(e, `its section ${i + 1} does not hold the fields of GPP section ${id}`) }
    }
  }
  const usOptOut = optedOut ? "Y" as const : notOptedOut ? "N" as const : undefined
  return { ...(tcfSection === undefined ? {} : { tcf: tcfSection }), ...(usOptOut === undefined ? {} : { usOptOut }) }
}

/**
 * The work decoding a GPP string takes (see WORK_PER_STRING): its characters, and each of its sections as if it were a
 * US one (the most a section costs; most are not decoded). Its TCF EU section is charged again as a TCF string, by its
 * own reading.
 */
const gppWork = (text: string): number => {
  let sections = 0
  for (let i = text.indexOf("~"); i >= 0; i = text.indexOf("~", i + 1)) sections++
  return Math.ceil(WORK_PER_STRING + text.length * WORK_PER_CHARACTER + sections * WORK_PER_GPP_SECTION)
}

const readGppString = (gppString: string, budget?: ConsentBudget): GppReading => {
  const text = gppString.trim()
  return cachedReading(gppReadings, text, () => ({ reading: decodeGpp(text, budget), work: gppWork(text) }), budget)
}

/** Why a GPP string cannot be read (as tcfProblem); undefined when it can. */
export const gppProblem = (gppString: string, budget?: ConsentBudget): string | undefined => {
  const reading = readGppString(gppString, budget)
  return "problem" in reading ? reading.problem : undefined
}
