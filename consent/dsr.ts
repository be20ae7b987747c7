// Data-subject requests (GDPR Art. 15-21): one identifier names the person; every right runs at once against
// everything identity joins to it, with an id, a status, a due date one month out, an audit trail, and a signed
// receipt when it completes. Request rows, trail and receipt name the person only by keyed hashes.
import { randomBytes } from "node:crypto"
import { Data, Effect, Option } from "effect"
import { BadIdentifier, type IdentifierRef, parseIdentifier } from "../identity/index.ts"
import type { NormaliseOptions } from "../identity/normalise.ts"
import type { CanonicalEvent, IdentifierKind } from "../ingest/message.ts"
import { Pipeline } from "../ingest/pipeline.ts"
import { profileHasMessages } from "../warehouse/identity.ts"
import {
  type DoneItem, type DsrRecord, DSR_TYPES, type DsrType, type ListedRequest, listRequests, loadRequest, requestsAbout, unfinishedRequests,
  storeRequest, tenantHoldsData,
} from "../warehouse/dsr.ts"
import { type Abridged, type AuditEntry, LISTED_KEYS, appendAudit, type AuditSigner, auditTrail, signReceipt } from "./audit.ts"
import { bundlePrefix, removeBundles, type StoreRows, writeBundle } from "./bundle.ts"
import { identifierKey, Keys, type KeysShape } from "./keys.ts"
import { ConsentPoliciesRef, policyOf } from "./purposes.ts"
import { accessReport } from "./access.ts"
import { recordConsent } from "./ledger.ts"
import { eraseSubject, exportSubject } from "./erasure.ts"
import { restrictSubject } from "./restriction.ts"
import { resolveSubject, type Subject } from "./subject.ts"

export { DSR_TYPES, type DsrRecord, type DsrType } from "../warehouse/dsr.ts"

/** A request that cannot be taken as given: names what is wrong. */
export class DsrInvalid extends Data.TaggedError("DsrInvalid")<{ readonly field: string; readonly message: string }> {}

/** A request naming a profile id that is no profile of its tenant (another tenant's, or made up): nothing is recorded. */
export class DsrProfileNotFound extends Data.TaggedError("DsrProfileNotFound")<{ readonly tenant: string; readonly profileId: string }> {
  override get message() {
    return `no profile ${this.profileId} in tenant "${this.tenant}": a profile id names a profile of the request's own tenant ` +
      "(name the person by an identifier instead, e.g. email:ann@x.example)"
  }
}

export class DsrNotFound extends Data.TaggedError("DsrNotFound")<{ readonly requestId: string }> {
  override get message() {
    return `no data-subject request ${this.requestId} (list them with cdp dsr list)`
  }
}

/**
 * Trait names a rectification may set: plain names, not paths or identifiers of other systems, nor the names of a
 * JavaScript object's own machinery (a trait "__proto__" stored as such was shown on the profile).
 */
const TRAIT_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/
const NOT_TRAITS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"])

export interface DsrInput {
  readonly tenant: string
  readonly type: string
  /** The one identifier the request names: "KIND:VALUE" (email:ann@x.example, phone:+44..., user_id:u1). */
  readonly identifier: string
  /** Rectification only: trait -> corrected value. */
  readonly set?: Readonly<Record<string, string>> | undefined
  /** Restriction only: lift an earlier restriction (the grounds for it are gone) instead of restricting. */
  readonly lift?: boolean | undefined
  /**
   * Who submitted it through the API (the token's id and role): kept in its dsr.received entry, so the request's own
   * trail says who asked and no access record of the submission is needed beside it.
   */
  readonly submittedBy?: SubmittedBy | undefined
}

export interface SubmittedBy {
  readonly tokenId: string
  readonly role: string
}

export interface ValidDsr {
  readonly tenant: string
  readonly type: DsrType
  readonly ref: Extract<IdentifierRef, { _tag: "identifier" }> | Extract<IdentifierRef, { _tag: "profile" }>
  readonly set: Readonly<Record<string, string>>
  readonly lift: boolean
  readonly submittedBy?: SubmittedBy | undefined
}

/** Checks a request before anything is stored: the type, the identifier, and the corrections of a rectification. */
export const validateDsr = (input: DsrInput, normalise?: NormaliseOptions): ValidDsr | DsrInvalid => {
  if (!(DSR_TYPES as ReadonlyArray<string>).includes(input.type)) {
    return new DsrInvalid({ field: "type", message: `unknown request type "${input.type}" (types: ${DSR_TYPES.join(", ")})` })
  }
  const type = input.type as DsrType
  if (input.tenant.trim() === "") return new DsrInvalid({ field: "tenant", message: "the tenant must not be empty" })
  const ref = parseIdentifier(input.identifier, normalise)
  if (ref instanceof BadIdentifier) return new DsrInvalid({ field: "identifier", message: ref.message })
  const set = input.set ?? {}
  const names = Object.keys(set)
  if (type === "rectification" && names.length === 0) {
    return new DsrInvalid({ field: "set", message: 'a rectification needs the corrected values in "set" (cdp dsr submit: --set trait=value, repeatable)' })
  }
  if (type !== "rectification" && names.length > 0) {
    return new DsrInvalid({ field: "set", message: `"set" is for rectification only, not ${type} (cdp dsr submit: --set)` })
  }
  const bad = names.find((n) => !TRAIT_NAME.test(n) || NOT_TRAITS.has(n))
  if (bad !== undefined) {
    return new DsrInvalid({ field: "set", message: `"${bad}" is not a trait name (${NOT_TRAITS.has(bad) ? "a reserved word" : "letters, digits, _ . -"})` })
  }
  if (input.lift === true && type !== "restriction") return new DsrInvalid({ field: "lift", message: `"lift" is for restriction only, not ${type} (cdp dsr submit: --lift)` })
  return { tenant: input.tenant, type, ref, set, lift: input.lift === true, ...(input.submittedBy === undefined ? {} : { submittedBy: input.submittedBy }) }
}

/** One calendar month after `ms` (GDPR Art. 12(3)); the 31st of a shorter month falls on its last day. */
export const dueDate = (ms: number): number => {
  const d = new Date(ms)
  const target = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1))
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate()
  return Date.UTC(target.getUTCFullYear(), target.getUTCMonth(), Math.min(d.getUTCDate(), lastDay),
    d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds())
}

export const newRequestId = () => `dsr_${randomBytes(12).toString("base64url")}`

export interface DsrEnv {
  readonly signer: AuditSigner
  readonly normalise?: NormaliseOptions | undefined
}

const refKey = (keys: KeysShape, tenant: string, ref: ValidDsr["ref"]) =>
  ref._tag === "profile" ? identifierKey(keys, tenant, "profile", ref.profileId) : identifierKey(keys, tenant, ref.kind, ref.value)

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/** Records a request as received (row and audit entry) and returns it; nothing about the person is stored. */
export const receiveRequest = (env: DsrEnv, valid: ValidDsr, receivedAtMs = Date.now()) =>
  Effect.gen(function* () {
    const keys = yield* Keys
    const record: DsrRecord = {
      tenant: valid.tenant, requestId: newRequestId(), type: valid.type, status: "received",
      subjectKind: valid.ref._tag === "profile" ? "profile" : valid.ref.kind, subjectKey: refKey(keys, valid.tenant, valid.ref),
      subjectKeys: [], receivedAtMs, dueAtMs: dueDate(receivedAtMs), startedAtMs: null, finishedAtMs: null, done: [],
      details: valid.type === "rectification" ? { traits: Object.keys(valid.set).sort() } : valid.lift ? { lift: true } : {},
      error: "", receipt: null,
    }
    yield* storeRequest(record)
    yield* appendAudit(env.signer, {
      kind: "dsr.received", tenant: record.tenant, requestId: record.requestId, atMs: receivedAtMs,
      data: {
        type: record.type, subjectKind: record.subjectKind, subjectKey: record.subjectKey, dueAt: iso(record.dueAtMs),
        ...(valid.submittedBy === undefined ? {} : { submittedBy: { tokenId: valid.submittedBy.tokenId, role: valid.submittedBy.role } }),
      },
    })
    return record
  })

/** Replaces a subject's identifiers in a message by a placeholder (error texts may quote a value). */
const scrub = (text: string, subject: Subject | undefined) =>
  (subject?.needles ?? []).reduce((t, needle) => t.split(needle).join("[identifier]"), text).split("\n", 1)[0]!.slice(0, 500)

/** Everything every store the registry lists holds about the subject (consent/erasure.ts), as rows per store. */
const exportEverything = (subject: Subject) => Effect.map(exportSubject(subject), (stores): ReadonlyArray<StoreRows> => stores)

/** Erases the subject everywhere the registry lists, and verifies it (consent/erasure.ts): what was done where. */
const eraseEverywhere = (subject: Subject, requestId: string) => Effect.map(eraseSubject(subject, requestId), (counts): ReadonlyArray<DoneItem> => counts)

/**
 * Art. 21: an objection is a refusal, from now on, of every purpose whose lawful basis is legitimate interest,
 * recorded in the consent ledger with the request as its proof. Returns the rows recorded.
 */
const objectTo = (subject: Subject, purposes: ReadonlyArray<string>, requestId: string) =>
  Effect.gen(function* () {
    const atMs = Date.now()
    const changes = subject.profileIds.flatMap((profileId) => purposes.map((purpose) => ({
      tenant: subject.tenant, profileId, messageId: `dsr:${requestId}`, purpose, state: "denied" as const, source: "dsr_objection",
      proof: JSON.stringify({ request: requestId, right: "GDPR Art. 21 objection" }), atMs,
    })))
    yield* recordConsent(changes)
    return changes.length
  })

/**
 * Art. 16: the corrected values land as statements of their own (identify messages of source and channel "dsr", ids
 * the request's), at the request's time, one per identifier of the subject's own (not shared), each carrying that one
 * identifier, through the pipeline: identity attaches each to whoever holds its identifier, now and after any later
 * merge or split (a message naming one identifier links nothing), so a correction follows the person's identifiers
 * rather than the profile id of the day. The identifier is carried as stated, not observed: a correction is no sighting
 * of who uses it (identity needs one to change a value's owner). Profiles rank a trait's statements by source precedence, then time
 * (identity/traits.ts, CDP_TRAIT_PRECEDENCE): with "dsr" ranked first the correction wins over every value stated
 * before it, and a later statement of the person's own wins over it. `cdp profile show` lists it with source "dsr".
 * Not archived: the archive holds what sources sent. Returns the statements landed.
 */
const rectifyTraits = (subject: Subject, set: Readonly<Record<string, string>>, requestId: string) =>
  Effect.gen(function* () {
    const pipeline = yield* Effect.serviceOption(Pipeline)
    if (Option.isNone(pipeline)) {
      return yield* Effect.fail(new DsrInvalid({ field: "type", message: "a rectification lands through the pipeline: submit it with cdp dsr submit or to cdp serve" }))
    }
    const now = new Date().toISOString()
    const events = subject.identifiers.filter((id) => !id.shared).map((id, i): CanonicalEvent => ({
      tenant: subject.tenant, messageId: `dsr:${requestId}:${i}`, type: "identify", event: "",
      anonymousId: id.kind === "anonymous_id" ? id.value : "", userId: id.kind === "user_id" ? id.value : "", groupId: "", previousId: "",
      channel: "dsr" as CanonicalEvent["channel"], source: "dsr", timestamp: now,
      originalTimestamp: null, sentAt: null, receivedAt: now, properties: {}, traits: { ...set }, context: {}, extra: {},
      // Stated, not observed: a correction names the identifier, it never shows who uses it now (so it cannot vouch
      // for a change of the identifier's owner, identity/graph.ts).
      identifiers: id.kind === "anonymous_id" || id.kind === "user_id" ? [] : [{ kind: id.kind as IdentifierKind, value: id.value, trust: "stated" }],
      text: "", profileId: "",
    }))
    if (events.length > 0) yield* pipeline.value.submit(events, [], { archive: false })
    return events.length
  })

/** What a request's details say when its tenant holds no data at all. */
export const emptyTenantNote = (tenant: string) =>
  `tenant "${tenant}" holds no data at all (no message, consent record or identity observation): check the tenant's name; the request is recorded as asked`

/** What the request does, by type; returns what was done where and details for the record. */
const perform = (valid: ValidDsr, record: DsrRecord, subject: Subject) =>
  Effect.gen(function* () {
    const done: Array<DoneItem> = []
    const keys = yield* Keys
    // Which profile the identifier resolved to, and which of the person's identifiers other profiles state too (a
    // second user's identify naming their address): by keyed hashes, as the record names the person.
    // Nothing found in a tenant that holds nothing at all is most likely a misspelt tenant: said plainly, not refused
    // (an erasure for an empty tenant is still a request to record).
    const holds = subject.profileIds.length > 0 || (yield* tenantHoldsData(valid.tenant))
    const details: Record<string, unknown> = {
      ...record.details, profiles: subject.profileIds.length, tenantHoldsData: holds,
      ...(holds ? {} : { note: emptyTenantNote(valid.tenant) }),
      resolvedTo: subject.profileIds.map((p) => identifierKey(keys, valid.tenant, "profile", p)),
      statedElsewhere: subject.statedElsewhere.map((s) => ({
        kind: s.kind, key: identifierKey(keys, valid.tenant, s.kind, s.value), profiles: s.profileIds.length,
        profileKeys: s.profileIds.map((p) => identifierKey(keys, valid.tenant, "profile", p)),
      })),
    }
    switch (valid.type) {
      case "access":
      case "portability": {
        const stores = yield* exportEverything(subject)
        for (const s of stores) done.push({ where: s.store, what: "exported", count: s.rows.length })
        const requested = valid.ref._tag === "identifier" ? `${valid.ref.kind}:${valid.ref.value}` : valid.ref.profileId
        const report = valid.type === "access" ? yield* accessReport(subject, stores, requested) : {}
        const prefix = bundlePrefix(keys, valid.tenant, subject.profileIds[0] === undefined
          ? (valid.ref._tag === "identifier" ? { kind: valid.ref.kind, value: valid.ref.value } : { profileId: valid.ref.profileId })
          : { profileId: subject.profileIds[0] })
        const bundle = yield* writeBundle({
          prefix, requestId: record.requestId, type: valid.type, tenant: valid.tenant, generatedAt: new Date().toISOString(), report, stores,
        })
        done.push({ where: "object store dsr/bundles/", what: "bundle written", count: 1 })
        details["bundle"] = bundle
        break
      }
      case "rectification": {
        const n = yield* rectifyTraits(subject, valid.set, record.requestId)
        done.push({ where: "event_rows", what: "traits rectified", count: n === 0 ? 0 : Object.keys(valid.set).length })
        done.push({ where: "event_rows", what: "statements landed (one per identifier)", count: n })
        break
      }
      case "restriction": {
        // On the person's own identifiers, resolved to profiles when asked (consent/restriction.ts): merges carry it.
        const n = yield* restrictSubject(subject, !valid.lift, record.requestId, Date.now())
        done.push({ where: "subject_restrictions", what: valid.lift ? "restriction lifted" : "restricted", count: n })
        break
      }
      case "objection": {
        const policy = policyOf(yield* ConsentPoliciesRef, valid.tenant)
        const purposes = Object.entries(policy.purposes).filter(([, p]) => p.basis === "legitimate_interest").map(([name]) => name).sort()
        const n = yield* objectTo(subject, purposes, record.requestId)
        done.push({ where: "consent_ledger", what: "objection recorded", count: n })
        details["purposes"] = purposes
        break
      }
      case "erasure": {
        // Bundles of earlier access or portability requests about this person go with the rest.
        const earlier = yield* requestsAbout(valid.tenant, record.subjectKeys)
        const bundleKeys = earlier.flatMap((r) => {
          const key = (r.details["bundle"] as { key?: unknown } | undefined)?.key
          return typeof key === "string" ? [key] : []
        })
        done.push({ where: "object store dsr/bundles/", what: "erased", count: yield* removeBundles(bundleKeys) })
        for (const item of yield* eraseEverywhere(subject, record.requestId)) done.push(item)
        // The erasure cut these values out of every other record (they are needles) and verified it: say whose.
        const others = new Set(subject.statedElsewhere.flatMap((s) => s.profileIds))
        if (others.size > 0) done.push({ where: "other profiles' records", what: "identifier cut out of other profiles stating it", count: others.size })
        break
      }
    }
    return { done, details }
  })

/** Runs a received request now: running, then completed with a signed receipt, or failed with the reason. */
export const runRequest = (env: DsrEnv, valid: ValidDsr, received: DsrRecord) =>
  Effect.gen(function* () {
    const keys = yield* Keys
    const startedAtMs = Date.now()
    let subject: Subject | undefined
    const outcome = yield* Effect.gen(function* () {
      subject = yield* resolveSubject(valid.tenant, valid.ref, env.normalise)
      const subjectKeys = [...new Set(subject.identifiers.map((i) => identifierKey(keys, valid.tenant, i.kind, i.value)))].sort()
      const running: DsrRecord = { ...received, status: "running", startedAtMs, subjectKeys }
      yield* storeRequest(running)
      yield* appendAudit(env.signer, {
        kind: "dsr.running", tenant: running.tenant, requestId: running.requestId, atMs: startedAtMs,
        data: { subjectKeys, profiles: subject.profileIds.length, messages: subject.messageIds.length },
      })
      const { done, details } = yield* perform(valid, running, subject)
      return { running, done, details }
    }).pipe(Effect.result)
    const finishedAtMs = Date.now()
    if (outcome._tag === "Failure") {
      const e = outcome.failure as { _tag?: string; message?: string }
      const error = scrub(`${e._tag ?? "Error"}: ${e.message ?? String(e)}`, subject)
      const failed: DsrRecord = { ...received, status: "failed", startedAtMs, finishedAtMs, error }
      yield* storeRequest(failed)
      yield* appendAudit(env.signer, { kind: "dsr.failed", tenant: failed.tenant, requestId: failed.requestId, atMs: finishedAtMs, data: { error } })
      return failed
    }
    const { running, done, details } = outcome.success
    const receipt = signReceipt(env.signer, {
      receipt: "cdp data-subject request receipt v1",
      requestId: running.requestId, tenant: running.tenant, type: running.type,
      subject: { kind: running.subjectKind, key: running.subjectKey, keys: running.subjectKeys },
      receivedAt: iso(running.receivedAtMs), dueAt: iso(running.dueAtMs), startedAt: iso(startedAtMs), completedAt: iso(finishedAtMs),
      done: done.map((d) => ({ ...d })),
    })
    const completed: DsrRecord = { ...running, status: "completed", finishedAtMs, done, details, receipt }
    yield* appendAudit(env.signer, { kind: "dsr.completed", tenant: completed.tenant, requestId: completed.requestId, atMs: finishedAtMs, data: { receipt } })
    yield* storeRequest(completed)
    return completed
  })

/**
 * A profile id must name a profile of the request's tenant before anything is recorded: one with messages now, or,
 * for an erasure, one an earlier erasure of the tenant named (erased since: erasing it again completes, and an
 * interrupted one can be submitted again). Unchecked, another tenant's profile id ran as a subject of this tenant
 * and wrote its rows (an objection's ledger rows) here. Only erasures count: such a request recorded before this
 * check about another tenant's profile does not make it this tenant's.
 */
const profileOfTenant = (tenant: string, profileId: string, type: DsrType) =>
  Effect.gen(function* () {
    if (yield* profileHasMessages(tenant, profileId)) return
    if (type === "erasure") {
      const keys = yield* Keys
      const earlier = yield* requestsAbout(tenant, [identifierKey(keys, tenant, "profile", profileId)])
      if (earlier.some((r) => r.type === "erasure")) return
    }
    return yield* Effect.fail(new DsrProfileNotFound({ tenant, profileId }))
  })

/** Receives and runs a request; `onReceived` sees its id first (the CLI prints it before the work starts). */
export const submitRequest = (env: DsrEnv, input: DsrInput, onReceived?: (record: DsrRecord) => void) =>
  Effect.gen(function* () {
    const valid = validateDsr(input, env.normalise)
    if (valid instanceof DsrInvalid) return yield* Effect.fail(valid)
    if (valid.ref._tag === "profile") yield* profileOfTenant(valid.tenant, valid.ref.profileId, valid.type)
    const received = yield* receiveRequest(env, valid)
    onReceived?.(received)
    return yield* runRequest(env, valid, received)
  })

export interface DsrStatusView {
  readonly request: DsrRecord
  readonly overdue: boolean
  readonly trail: ReadonlyArray<Pick<AuditEntry, "seq" | "at" | "kind" | "hash">>
}

export const isOverdue = (r: Pick<DsrRecord, "status" | "dueAtMs">, nowMs = Date.now()) => r.status !== "completed" && r.dueAtMs < nowMs

/** A request's status with its audit trail; with `tenant`, only that tenant's (another's fails as an unknown id, its trail unread). */
export const requestStatus = (requestId: string, tenant?: string) =>
  Effect.gen(function* () {
    const request = yield* loadRequest(requestId, tenant)
    if (request === undefined) return yield* Effect.fail(new DsrNotFound({ requestId }))
    const trail = (yield* auditTrail(requestId)).map((e) => ({ seq: e.seq, at: e.at, kind: e.kind, hash: e.hash }))
    return { request, overdue: isOverdue(request), trail } satisfies DsrStatusView
  })

/**
 * Requests of a tenant (or all), oldest first, as a list shows them (requestListView: receipts' subject keys cut to
 * LISTED_KEYS in the warehouse); `overdue`: only those past their due date and not completed.
 */
export const listDsr = (filter: {
  readonly tenant?: string | undefined
  readonly overdue?: boolean
  readonly nowMs?: number
  readonly page?: { readonly after?: { readonly receivedAtMs: number; readonly requestId: string } | undefined; readonly limit: number } | undefined
}) =>
  listRequests({ tenant: filter.tenant, overdueAtMs: filter.overdue ? filter.nowMs ?? Date.now() : undefined, page: filter.page, listedKeys: LISTED_KEYS })

/**
 * Requests a stopped process left received or running are marked failed ("interrupted"): a request row holds only keyed
 * hashes, so it cannot be run again without the identifier; the requester submits it again (every right is safe to
 * repeat). Called when `cdp serve` starts and before a command runs on the data directory itself, which the
 * embedded engine's lock gives to one process: nobody else can be running them.
 */
export const failInterrupted = (env: DsrEnv) =>
  Effect.gen(function* () {
    const stuck = yield* unfinishedRequests()
    const nowMs = Date.now()
    for (const r of stuck) {
      const error = "interrupted: the process running it stopped; submit the request again"
      yield* storeRequest({ ...r, status: "failed", finishedAtMs: nowMs, error })
      yield* appendAudit(env.signer, { kind: "dsr.failed", tenant: r.tenant, requestId: r.requestId, atMs: nowMs, data: { error } })
    }
    return stuck.length
  })

/** A request as `cdp dsr status --format json` and GET /v1/dsr/{id} show it. */
export const requestView = (r: Omit<DsrRecord, "subjectKeys">, nowMs = Date.now()) => ({
  id: r.requestId, tenant: r.tenant, type: r.type, status: r.status,
  subject: { kind: r.subjectKind, key: r.subjectKey },
  receivedAt: iso(r.receivedAtMs), dueAt: iso(r.dueAtMs), startedAt: iso(r.startedAtMs), finishedAt: iso(r.finishedAtMs),
  overdue: isOverdue(r, nowMs), done: r.done, details: r.details, error: r.error, receipt: r.receipt,
})

export type RequestView = ReturnType<typeof requestView>

/**
 * A request as a list (GET /v1/dsr, `cdp dsr list`) shows it: its receipt's subject keys, one per identifier of the
 * person (10,000 made one request 1.36 MB), cut to the first LISTED_KEYS with keyCount (listDsr reads them so), and
 * `abridged` naming what was cut and where the request is whole (GET /v1/dsr/{id}, whose receipt's signature this one's is).
 */
export const requestListView = (r: ListedRequest, nowMs = Date.now()): RequestView & { readonly abridged?: Abridged } => {
  const view = requestView(r, nowMs)
  return r.receiptKeyCount > LISTED_KEYS
    ? { ...view, abridged: { fields: { "/receipt/subject/keys": r.receiptKeyCount }, whole: `/v1/dsr/${r.requestId}` } }
    : view
}
