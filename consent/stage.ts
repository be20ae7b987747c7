// The consent stage, after identity (it needs each message's current profile): records the consent changes a batch
// carries in the ledger, then enforces at ingest what the purpose governing a message (by channel and type, the
// tenant's policy: consent/purposes.ts) does not allow for
// its person at the message's time: drop (counted by reason) or keep with personal fields stripped. A refusal that
// arrives after messages later than it were stored applies to those too (see `enforceStored`). Also here: the
// suppression gate, which runs before identity (see `makeSuppressionStage`).
import { createHash } from "node:crypto"
import { Effect } from "effect"
import type { IdentityConfig } from "../identity/index.ts"
import type { CanonicalEvent, Rejection } from "../ingest/message.ts"
import { deadLetter, drop, ok, type Outcome, type Stage } from "../ingest/stage.ts"
import { insertLedgerRows, ledgerOfProfiles, ledgerOfProfilesFrom, type LedgerRow, storedEventsByIds, storedEventsOfProfiles } from "../warehouse/consent.ts"
import type { ErasureMutationFailed } from "../warehouse/erasure.ts"
import { removeStoredEvents, stripStoredEvents } from "../warehouse/sink.ts"
import { Warehouse, type WarehouseQueryError, type WarehouseRejectedRows, type WarehouseUnavailable } from "../warehouse/warehouse.ts"
import { laterThan, stateFromRows } from "./ledger.ts"
import { channelsGovernedBy, type ConsentPolicies, type ConsentPolicy, governingPurpose, type IngestAction, policyOf } from "./purposes.ts"
import { identifierKey, Keys, type KeysShape } from "./keys.ts"
import { ConsentPacer } from "./pacing.ts"
import {
  type ConsentBudget, type ConsentBudgetLimits, type ConsentNotDecoded, type ConsentSignal, readSignals, readSignalsWithin,
} from "./readers.ts"
import { PERSONAL_PROPERTY_PATTERN, SAFE_CONTEXT_KEYS, stripPersonal, STRIPPED_MARK } from "./strip.ts"
import { liftSuppression, makeSuppressionCheck } from "./suppression.ts"

/** A failed mutation of stored messages (consent applied to them late: warehouse/sink.ts) is its own error, not an outage. */
export type ConsentStageError = WarehouseUnavailable | WarehouseQueryError | WarehouseRejectedRows | ErasureMutationFailed

/** Asks whether any of a message's identifiers belongs to an erased person (consent/suppression.ts). */
export type SuppressionCheck = (tenant: string, identifiers: ReadonlyArray<{ readonly kind: string; readonly value: string }>) =>
  Effect.Effect<boolean, ConsentStageError, Warehouse>

export const SUPPRESSED = "suppressed"

/** The drop reason of a message its purpose does not allow. */
export const consentDropReason = (purpose: string) => `consent:${purpose}`

/**
 * Every identifier a message states about its sender, as sent: ids, the identifiers it carries, and traits that hold
 * one (`traitIdentifiers`, identity's configuration: trait name -> kind).
 */
const identifiersOf = (e: CanonicalEvent, traitIdentifiers: Readonly<Record<string, string>>) => {
  const out: Array<{ kind: string; value: string }> = [...e.identifiers]
  if (e.userId !== "") out.push({ kind: "user_id", value: e.userId })
  if (e.anonymousId !== "") out.push({ kind: "anonymous_id", value: e.anonymousId })
  const contextTraits = e.context["traits"]
  for (const traits of [e.traits, contextTraits !== null && typeof contextTraits === "object" ? contextTraits as Record<string, unknown> : {}]) {
    for (const [name, kind] of Object.entries(traitIdentifiers)) {
      const v = traits[name]
      if (typeof v === "string" && v.trim() !== "") out.push({ kind, value: v })
    }
  }
  return out
}

/**
 * The suppression gate, first of all stages (before identity stores anything of a message): a message of an erased
 * person (any identifier on the suppression list, consent/suppression.ts) is dropped with reason "suppressed" and
 * counted, unless it carries a fresh grant of consent (an update event, a resubscribe): then the suppression is
 * lifted, with that message as its proof, and the message flows on.
 */
export const makeSuppressionStage = (options: {
  readonly policies: ConsentPolicies
  readonly isSuppressed: SuppressionCheck
  readonly lift: (tenant: string, identifiers: ReadonlyArray<{ readonly kind: string; readonly value: string }>, proof: string) =>
    Effect.Effect<unknown, ConsentStageError, Warehouse>
  readonly traitIdentifiers: Readonly<Record<string, string>>
}) =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    const stage: Stage<CanonicalEvent, ConsentStageError> = (batch) =>
      Effect.forEach(batch, (e) => Effect.gen(function* () {
        const identifiers = identifiersOf(e, options.traitIdentifiers)
        if (!(yield* options.isSuppressed(e.tenant, identifiers))) return ok(e)
        const freshGrant = readSignals(e, policyOf(options.policies, e.tenant)).some((s) => s.explicit && s.state === "granted")
        if (!freshGrant) return drop<CanonicalEvent>(SUPPRESSED)
        yield* options.lift(e.tenant, identifiers, e.messageId)
        return ok(e)
      })).pipe(Effect.provideService(Warehouse, warehouse))
    return stage
  })

const key = (tenant: string, profile: string) => `${tenant}\u0000${profile}`

/**
 * The browser or app whose stored preferences a message carries, as the deployment's keyed hash of its anonymous id
 * (consent/keys.ts: the same key suppression and receipts use), so the ledger holds nothing a guessed id can be
 * tested against. Without keys (a pipeline built without a data dir's secret: tests) the legacy hash is written.
 */
const deviceOf = (e: CanonicalEvent, keys: KeysShape | undefined) =>
  e.anonymousId === "" ? "" : keys === undefined ? legacyDeviceOf(e) : identifierKey(keys, e.tenant, "anonymous_id", e.anonymousId)

/**
 * What ledgers written before the keyed hash hold in `device`: 16 hex digits of a plain SHA-256. Such rows are read
 * as they are (a row matches a device under either hash), not rewritten: the ledger does not hold the anonymous id
 * to re-hash, and its rows are the proof of consent, which must not change after the fact. New rows get the keyed hash.
 */
const legacyDeviceOf = (e: CanonicalEvent) =>
  createHash("sha256").update(`${e.tenant}\u0000${e.anonymousId}`).digest("hex").slice(0, 16)

/** What enforcement a message of a channel and type at a time gets: undefined when its purpose allows it. */
const actionFor = (channel: string, type: string, ms: number, rows: ReadonlyArray<LedgerRow>, policy: ConsentPolicy): { purpose: string; action: IngestAction } | undefined => {
  const purpose = governingPurpose(policy, channel, type)
  const p = purpose === undefined ? undefined : policy.purposes[purpose]
  if (purpose === undefined || p === undefined) return undefined
  const state = stateFromRows(rows, purpose, p, ms)
  if (state.allowed) return undefined
  const action = state.state === "denied" ? p.onDenied : p.onUnknown
  return action === "keep" ? undefined : { purpose, action }
}

/** Why a message's consent string was not decoded: its own strings needed more than a whole budget. */
const notDecodedRejection = (notDecoded: ConsentNotDecoded, budget: ConsentBudget): Rejection => ({
  rule: "too_many_consent_strings",
  field: notDecoded.field,
  message: `${notDecoded.field.slice(1).replace(/\//g, ".")}, a ${notDecoded.kind} string, was not decoded: this message's consent strings ` +
    `(TCF and GPP) already needed all the decoding one request may cause (${budget.decoded} distinct strings decoded, about ` +
    `${Math.round(budget.limit / 1000)} ms of a core's work, counted from what they name); no real message needs as much ` +
    "(a CMP sends one string of each kind)",
})

/**
 * `decoding`: the size of the budgets under which the stage decodes consent strings (a request's by default; tests
 * make it small).
 */
export const makeConsentStage = (policies: ConsentPolicies, keys?: KeysShape, decoding: ConsentBudgetLimits = {}) =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    // Merged-in refusals already applied to stored messages by this process (bounded: cleared when it grows large;
    // applying one again only costs a query, as stripped messages are skipped).
    const mergedSeen = new Set<string>()

    /**
     * A refusal at time T that arrives after messages of the same person later than T were stored: those are
     * enforced as they would have been had the refusal come first (late data is treated by its own time).
     */
    const enforceStored = (tenant: string, policy: ConsentPolicy, refusals: ReadonlyArray<LedgerRow>, rowsOf: Map<string, Array<LedgerRow>>, inBatch: Set<string>) =>
      Effect.gen(function* () {
        const governed = [...new Set(refusals.map((r) => r.purpose))].map((p) => channelsGovernedBy(policy, p))
        const gated = governed.includes(undefined) ? undefined : [...new Set(governed.flatMap((c) => c ?? []))]
        if (gated !== undefined && gated.length === 0) return
        const profiles = [...new Set(refusals.map((r) => r.profileId))]
        const fromMs = Math.min(...refusals.map((r) => r.atMs))
        const stored = yield* storedEventsOfProfiles(tenant, profiles, gated, fromMs, STRIPPED_MARK)
        yield* decideStored(tenant, policy, stored, rowsOf, inBatch)
      })

    /** Strips or removes each stored message as the ledger rows of its current profile decide it (as if it arrived now). */
    const decideStored = (
      tenant: string, policy: ConsentPolicy, stored: ReadonlyArray<{ messageId: string; profileId: string; channel: string; type: string; atMs: number }>,
      rowsOf: Map<string, Array<LedgerRow>>, inBatch: Set<string>,
    ) =>
      Effect.gen(function* () {
        const toStrip = new Map<string, Array<string>>()
        const toRemove: Array<string> = []
        for (const s of stored) {
          if (inBatch.has(s.messageId)) continue
          const verdict = actionFor(s.channel, s.type, s.atMs, rowsOf.get(key(tenant, s.profileId)) ?? [], policy)
          if (verdict?.action === "strip") toStrip.set(verdict.purpose, [...toStrip.get(verdict.purpose) ?? [], s.messageId])
          else if (verdict?.action === "drop") toRemove.push(s.messageId)
        }
        for (const [purpose, ids] of toStrip) {
          yield* stripStoredEvents(tenant, ids, { safeContext: SAFE_CONTEXT_KEYS, personalProperty: PERSONAL_PROPERTY_PATTERN, mark: STRIPPED_MARK, purpose })
        }
        if (toRemove.length > 0) yield* removeStoredEvents(tenant, toRemove)
        const stripped = [...toStrip.values()].reduce((n, ids) => n + ids.length, 0)
        if (stripped + toRemove.length > 0) {
          yield* Effect.logInfo("consent applied to stored messages").pipe(Effect.annotateLogs({ tenant, stripped, removed: toRemove.length }))
        }
      })

    /**
     * Stored messages a merge of this batch moved into a profile (identity's movedIn): they landed under another profile,
     * where nothing was refused, and are decided now by the whole ledger of the profile they joined, as an arriving
     * message of that person at their time would be (a refusal stated logged in reaches what a new browser did before
     * it logged in). One ledger read per tenant with such moves; the messages are read only where something was refused.
     */
    const enforceMovedIn = (batch: ReadonlyArray<CanonicalEvent>, inBatch: Set<string>) =>
      Effect.gen(function* () {
        const byTenant = new Map<string, Map<string, ReadonlyArray<string>>>()
        for (const e of batch) {
          if (e.movedIn === undefined || e.movedIn.length === 0) continue
          const of = byTenant.get(e.tenant) ?? new Map<string, ReadonlyArray<string>>()
          of.set(e.profileId, [...of.get(e.profileId) ?? [], ...e.movedIn])
          byTenant.set(e.tenant, of)
        }
        for (const [tenant, moved] of byTenant) {
          const rowsHere = new Map<string, Array<LedgerRow>>()
          for (const r of yield* ledgerOfProfiles(tenant, [...moved.keys()])) {
            const k = key(tenant, r.profileId)
            rowsHere.set(k, [...rowsHere.get(k) ?? [], r])
          }
          const refusing = [...moved].filter(([profile]) => (rowsHere.get(key(tenant, profile)) ?? []).some((r) => r.state === "denied"))
          if (refusing.length === 0) continue
          const profileOf = new Map(refusing.flatMap(([profile, ids]) => ids.map((id) => [id, profile] as const)))
          const stored = yield* storedEventsByIds(tenant, [...profileOf.keys()], STRIPPED_MARK)
          yield* decideStored(tenant, policyOf(policies, tenant), stored.map((m) => ({ ...m, profileId: profileOf.get(m.messageId)! })), rowsHere, inBatch)
        }
      })

    /**
     * Each message's consent signals (undefined for a message without a usable time), read in batch order under the
     * decoding budgets of a ConsentPacer (consent/pacing.ts), as `cdp ingest` and replay read them. Behind Kafka this
     * stage runs in `cdp worker`, which holds none of the strings the edge decoded: decoded in one go, a batch of
     * distinct costly strings held the worker, every tenant's messages and its heartbeats, for seconds.
     */
    const readPaced = (batch: ReadonlyArray<CanonicalEvent>, times: ReadonlyArray<number>) =>
      Effect.gen(function* () {
        const pacer = new ConsentPacer(decoding)
        const read: Array<ReadonlyArray<ConsentSignal> | Rejection | undefined> = []
        for (let i = 0; i < batch.length; i++) {
          const e = batch[i]!
          if (Number.isNaN(times[i]!)) {
            read.push(undefined)
            continue
          }
          const policy = policyOf(policies, e.tenant)
          const signals = pacer.read((budget) => {
            const signals = readSignalsWithin(e, policy, budget)
            return "notDecoded" in signals ? notDecodedRejection(signals.notDecoded, budget) : signals
          }, (signals) => "rule" in signals)
          read.push(signals instanceof Promise ? yield* Effect.promise(() => signals) : signals)
        }
        return read
      })

    const stage: Stage<CanonicalEvent, ConsentStageError> = (batch) =>
      Effect.gen(function* () {
        const outcomes: Array<Outcome<CanonicalEvent>> = batch.map(ok)
        const times = batch.map((e) => Date.parse(e.timestamp))
        const signalsOf = yield* readPaced(batch, times)
        // The ledger of every profile of the batch, one read per tenant (current profiles: merges already applied): what
        // can decide anything from the tenant's earliest message of the batch on, not whole histories (see
        // ledgerOfProfilesFrom).
        const rowsOf = new Map<string, Array<LedgerRow>>()
        const byTenant = new Map<string, { profiles: Set<string>; fromMs: number }>()
        batch.forEach((e, i) => {
          const of = byTenant.get(e.tenant) ?? { profiles: new Set<string>(), fromMs: Number.POSITIVE_INFINITY }
          of.profiles.add(e.profileId)
          if (times[i]! < of.fromMs) of.fromMs = times[i]!
          byTenant.set(e.tenant, of)
        })
        for (const [tenant, of] of byTenant) {
          // Without a usable time a message is decided by nothing (identity refuses it first): any time reads enough.
          if (!Number.isFinite(of.fromMs)) of.fromMs = Date.now()
          for (const r of yield* ledgerOfProfilesFrom(tenant, [...of.profiles], of.fromMs)) {
            const k = key(tenant, r.profileId)
            const list = rowsOf.get(k)
            if (list === undefined) rowsOf.set(k, [r])
            else list.push(r)
          }
        }
        // In event-time order, so a message sees every change the batch makes before it.
        const order = batch.map((_, i) => i).sort((a, b) => (times[a]! - times[b]!) || a - b)
        const now = Date.now()
        const fresh: Array<LedgerRow> = []
        // A browser's device keys (keyed and legacy), hashed once a batch: a flood's thousands of messages come from a
        // few hundred browsers.
        const devices = new Map<string, readonly [string, string]>()
        for (const i of order) {
          const e = batch[i]!
          // Only without identity (which refuses them) can a message come without a usable time: nothing to place.
          const signals = signalsOf[i]
          if (signals === undefined) continue
          if ("rule" in signals) {
            outcomes[i] = deadLetter(signals)
            continue
          }
          const policy = policyOf(policies, e.tenant)
          const k = key(e.tenant, e.profileId)
          const rows = rowsOf.get(k) ?? []
          const browser = `${e.tenant}\u0000${e.anonymousId}`
          let keyed = devices.get(browser)
          if (keyed === undefined) {
            const device = deviceOf(e, keys)
            devices.set(browser, keyed = [device, device === "" ? "" : legacyDeviceOf(e)])
          }
          const [device, legacy] = keyed
          for (const signal of signals) {
            // A browser's stored preferences ride on each of its messages: only a change of what *that device* said
            // is a choice (another device may have chosen otherwise since). Without a device, the state in force.
            // An update event or an unsubscribe is an act of its own, always kept.
            if (!signal.explicit) {
              const previous = rows.reduce<LedgerRow | undefined>((m, r) =>
                r.purpose === signal.purpose && (r.device === device || r.device === legacy) && r.atMs <= times[i]! && (m === undefined || laterThan(r, m)) ? r : m, undefined)
              const stated = device === "" ? stateFromRows(rows, signal.purpose, policy.purposes[signal.purpose]!, times[i]!).state : previous?.state
              if (stated === signal.state) continue
            }
            const row: LedgerRow = {
              tenant: e.tenant, messageId: e.messageId, profileId: e.profileId, purpose: signal.purpose, state: signal.state,
              basis: signal.basis, source: signal.source, proof: signal.proof, device, atMs: times[i]!, recordedAtMs: now,
            }
            rows.push(row)
            fresh.push(row)
          }
          rowsOf.set(k, rows)
          const verdict = actionFor(e.channel, e.type, times[i]!, rows, policy)
          if (verdict === undefined) continue
          outcomes[i] = verdict.action === "drop" ? drop(consentDropReason(verdict.purpose)) : ok(stripPersonal(e, verdict.purpose))
        }
        yield* insertLedgerRows(fresh)
        // Refusals that reach stored messages: those this batch recorded, and those a merge has just brought to a
        // profile (recorded under another), once per process and profile.
        const refusals = new Map<string, Array<LedgerRow>>()
        const add = (r: LedgerRow) => {
          const list = refusals.get(r.tenant) ?? []
          list.push(r)
          refusals.set(r.tenant, list)
        }
        for (const r of fresh) if (r.state === "denied") add(r)
        for (const rows of rowsOf.values()) {
          for (const r of rows) {
            if (r.state !== "denied" || r.recordedProfileId === undefined || r.recordedProfileId === r.profileId) continue
            const seen = `${r.tenant}\u0000${r.profileId}\u0000${r.messageId}\u0000${r.purpose}`
            if (mergedSeen.has(seen)) continue
            if (mergedSeen.size > 1_000_000) mergedSeen.clear()
            mergedSeen.add(seen)
            add(r)
          }
        }
        const inBatch = new Set(batch.map((e) => e.messageId))
        for (const [tenant, list] of refusals) {
          // A merged-in refusal from before what was read reaches stored messages the rows read cannot decide: those
          // profiles' whole ledgers (this batch's rows included, stored above) decide them.
          const fromMs = byTenant.get(tenant)!.fromMs
          const earlier = [...new Set(list.filter((r) => r.atMs < fromMs).map((r) => r.profileId))]
          let rowsHere = rowsOf
          if (earlier.length > 0) {
            rowsHere = new Map(rowsOf)
            for (const p of earlier) rowsHere.set(key(tenant, p), [])
            for (const r of yield* ledgerOfProfiles(tenant, earlier)) rowsHere.get(key(tenant, r.profileId))!.push(r)
          }
          yield* enforceStored(tenant, policyOf(policies, tenant), list, rowsHere, inBatch)
        }
        yield* enforceMovedIn(batch, inBatch)
        return outcomes
      }).pipe(Effect.provideService(Warehouse, warehouse))
    return stage
  })

/** The suppression gate over D's suppression list (consent/suppression.ts), with the deployment's keys. */
export const suppressionStage = (policies: ConsentPolicies, keys: KeysShape, extract?: IdentityConfig["extract"]) =>
  Effect.gen(function* () {
    const check = yield* makeSuppressionCheck(extract?.normalise).pipe(Effect.provideService(Keys, keys))
    return yield* makeSuppressionStage({
      policies,
      isSuppressed: check,
      lift: (tenant, identifiers, proof) => liftSuppression(tenant, identifiers, "consent", proof, extract?.normalise).pipe(Effect.provideService(Keys, keys)),
      // Without identity (only to measure what it costs), the message's own ids and identifiers are checked.
      traitIdentifiers: extract?.traitIdentifiers ?? {},
    })
  })
