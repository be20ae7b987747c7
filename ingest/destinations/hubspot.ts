// HubSpot contacts: batch upsert by a unique property (at most 100 inputs a request; 200 all done, 207 multi-status
// with per-input errors), batch archive for a withdrawal, and the GDPR delete (POST /crm/v3/objects/contacts/gdpr-delete,
// one contact a request) for an erasure. 429 answers name their policy (policyName: SECONDLY, TEN_SECONDLY_ROLLING,
// DAILY); the X-HubSpot-RateLimit-* headers say what is left of the window. A daily limit is not retried today.
import { credentialsOf, type DestinationConfig } from "./config.ts"
import { type Answer, answerDetail, isRetryableStatus, request, retryAfterMs } from "./http.ts"
import type { DestinationClient, ItemResult, Operation, OutRecord, SendResult } from "./record.ts"
import { remoteIdProblem, remoteIdWords } from "./remote-id.ts"

/** Fields sent when the configuration maps none: the profile id as the unique property HubSpot upserts by. */
const defaults = (idProperty: string): Record<string, string> => ({
  [idProperty]: "profile_id", email: "identifier:email", firstname: "trait:first_name", lastname: "trait:last_name",
  phone: "identifier:phone|trait:phone",
})

export const hubspotDefaults = defaults

interface HubspotError {
  readonly status?: string
  readonly category?: string
  readonly message?: string
  readonly policyName?: string
  readonly context?: { readonly ids?: ReadonlyArray<string> }
}

const words = (a: Answer): string => {
  const e = a.json as HubspotError | undefined
  return [e?.category, e?.policyName, e?.message].filter((x) => typeof x === "string" && x !== "").join(" ").slice(0, 200)
}

/** How long the rate-limit window has left when the headers say the budget is spent. */
const windowMs = (a: Answer): number | undefined => {
  const interval = Number(a.headers.get("x-hubspot-ratelimit-interval-milliseconds"))
  return Number.isFinite(interval) && interval > 0 ? interval : undefined
}

const spent = (a: Answer): number | undefined =>
  a.headers.get("x-hubspot-ratelimit-remaining") === "0" ? windowMs(a) ?? 1000 : undefined

const limited = (a: Answer, credentials: ReadonlyArray<string>): SendResult => {
  const policy = (a.json as HubspotError | undefined)?.policyName
  return {
    kind: "retry", status: a.status, detail: answerDetail(a, words(a), credentials),
    retryAfterMs: retryAfterMs(a.headers) ?? windowMs(a) ?? 1000,
    // The daily budget is gone until midnight in the account's time zone: later runs (or a replay) send it.
    giveUp: policy === "DAILY",
  }
}

export const makeHubspot = (config: DestinationConfig): DestinationClient => {
  // What of it a receiver may quote back, kept out of the delivery log (answerDetail).
  const credentials = credentialsOf(config)
  const base = config.url.replace(/\/+$/, "")
  const headers = { authorization: `Bearer ${config.token}`, "content-type": "application/json" }
  const fields = config.fields ?? defaults(config.idProperty)
  const idOf = (r: OutRecord) => String(r.fields[config.idProperty] ?? "")
  const plan = (op: Operation, records: ReadonlyArray<OutRecord>) => {
    if (op === "upsert") {
      return {
        method: "POST", url: `${base}/crm/v3/objects/contacts/batch/upsert`,
        body: { inputs: records.map((r) => ({ id: idOf(r), idProperty: config.idProperty, properties: Object.fromEntries(Object.entries(r.fields).map(([k, v]) => [k, v === null ? "" : String(v)])) })) },
      }
    }
    if (op === "remove") return { method: "POST", url: `${base}/crm/v3/objects/contacts/batch/archive`, body: { inputs: records.map((r) => ({ id: r.remoteId })) } }
    return { method: "POST", url: `${base}/crm/v3/objects/contacts/gdpr-delete`, body: { objectId: records[0]!.remoteId } }
  }
  const send = async (op: Operation, records: ReadonlyArray<OutRecord>, _batchId: string, signal: AbortSignal): Promise<SendResult> => {
    // A profile without a value for the unique property (no e-mail, when it is "email") cannot be upserted.
    const missing = op === "upsert" ? records.filter((r) => idOf(r) === "") : []
    if (missing.length > 0) {
      const rest = records.filter((r) => idOf(r) !== "")
      const skipped = missing.map((r): ItemResult => ({ key: r.key, ok: false, retryable: false, detail: `no value for ${config.idProperty}, the property HubSpot upserts by` }))
      if (rest.length === 0) return { kind: "done", status: 0, items: skipped, detail: `not sent: no ${config.idProperty}` }
      const sent = await send(op, rest, _batchId, signal)
      return sent.kind === "done" ? { ...sent, items: [...sent.items, ...skipped] } : sent
    }
    const p = plan(op, records)
    const a = await request(p.url, { method: p.method, headers, body: JSON.stringify(p.body) }, signal, { privateNetwork: config.privateNetwork })
    if (a.status === 429) return limited(a, credentials)
    const pauseMs = spent(a)
    if (op === "upsert" && (a.status === 200 || a.status === 201 || a.status === 207)) {
      const body = (a.json ?? {}) as { results?: Array<{ id?: unknown; properties?: Record<string, string> } | null>; errors?: Array<HubspotError> }
      const byKey = new Map<string, ItemResult>()
      const keyOfId = new Map(records.map((r) => [idOf(r), r.key]))
      for (const r of Array.isArray(body.results) ? body.results : []) {
        if (r === null || typeof r !== "object") continue
        const key = keyOfId.get(String(r.properties?.[config.idProperty] ?? ""))
        if (key === undefined) continue
        // The contact id is kept for a later erasure: one that is not a plain id is this contact's error, not the run's.
        const problem = remoteIdProblem(r.id)
        byKey.set(key, problem === undefined ? { key, ok: true, remoteId: r.id as string }
          : { key, ok: false, retryable: false, detail: remoteIdWords("HubSpot", "contact", problem) })
      }
      for (const e of body.errors ?? []) {
        for (const id of e.context?.ids ?? []) {
          const key = keyOfId.get(id)
          if (key !== undefined && !byKey.has(key)) byKey.set(key, { key, ok: false, retryable: e.category === "RATE_LIMITS", detail: `${e.category ?? "error"}: ${e.message ?? ""}`.slice(0, 200) })
        }
      }
      const items = records.map((r): ItemResult => byKey.get(r.key) ?? { key: r.key, ok: false, retryable: true, detail: "not in HubSpot's answer" })
      return { kind: "done", status: a.status, items, detail: answerDetail(a, body.errors?.length ? `${body.errors.length} error(s)` : "", credentials), ...(pauseMs === undefined ? {} : { pauseMs }) }
    }
    // A record already gone counts as deleted.
    if ((op === "remove" || op === "erase") && (a.status === 204 || a.status === 200 || a.status === 404)) {
      return { kind: "done", status: a.status, detail: answerDetail(a), items: records.map((r) => ({ key: r.key, ok: true as const, remoteId: r.remoteId })), ...(pauseMs === undefined ? {} : { pauseMs }) }
    }
    if (isRetryableStatus(a.status)) return { kind: "retry", status: a.status, detail: answerDetail(a, words(a), credentials), retryAfterMs: retryAfterMs(a.headers) }
    return { kind: "refused", status: a.status, detail: answerDetail(a, words(a), credentials) }
  }
  return {
    config: { ...config, fields },
    supports: new Set<Operation>(["upsert", "remove", "erase"]),
    maxBatch: (op) => (op === "erase" ? 1 : Math.min(config.batchSize, 100)),
    plan: (op, records) => plan(op, records),
    send,
  }
}
