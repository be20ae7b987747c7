// Salesforce sObject Collections: upsert by an external id field (PATCH .../composite/sobjects/SOBJECT/FIELD, at most
// 200 records, one result per record in request order), delete by record ids (DELETE .../composite/sobjects?ids=),
// or anonymise (PATCH .../composite/sobjects, the mapped fields emptied). REQUEST_LIMIT_EXCEEDED (403) means the
// org's API budget is spent; Sforce-Limit-Info (api-usage=USED/MAX) on every answer says how close it is.
import { credentialsOf, type DestinationConfig } from "./config.ts"
import { type Answer, answerDetail, isRetryableStatus, request, retryAfterMs } from "./http.ts"
import type { DestinationClient, ItemResult, Operation, OutRecord, SendResult } from "./record.ts"
import { remoteIdProblem, remoteIdWords } from "./remote-id.ts"

export const salesforceDefaults = (): Record<string, string> => ({
  Email: "identifier:email", FirstName: "trait:first_name", LastName: "trait:last_name|trait:name|=Unknown", Phone: "identifier:phone|trait:phone",
})

interface SaveResult {
  readonly id?: unknown
  readonly success: boolean
  readonly errors?: ReadonlyArray<{ readonly statusCode?: string; readonly message?: string }>
}

/** Per-record errors that can pass on a later try. */
const TRANSIENT = new Set(["UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE"])
/** A record already gone is deleted. */
const GONE = new Set(["ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "INVALID_ID_FIELD"])

const errorWords = (a: Answer): string => {
  const list = Array.isArray(a.json) ? (a.json as Array<{ errorCode?: string; message?: string }>) : []
  return list.map((e) => `${e.errorCode ?? ""} ${e.message ?? ""}`.trim()).join("; ").slice(0, 200)
}

/** api-usage=USED/MAX of Sforce-Limit-Info, when spent: wait before the next request. */
const usage = (a: Answer): string => a.headers.get("sforce-limit-info") ?? ""

export const makeSalesforce = (config: DestinationConfig): DestinationClient => {
  // What of it a receiver may quote back, kept out of the delivery log (answerDetail).
  const credentials = credentialsOf(config)
  const base = `${config.url.replace(/\/+$/, "")}/services/data/${config.apiVersion}/composite/sobjects`
  const headers = { authorization: `Bearer ${config.token}`, "content-type": "application/json" }
  const fields = config.fields ?? salesforceDefaults()
  const plan = (op: Operation, records: ReadonlyArray<OutRecord>) => {
    if (op === "upsert") {
      return {
        method: "PATCH", url: `${base}/${config.sobject}/${config.externalIdField}`,
        body: { allOrNone: false, records: records.map((r) => ({ attributes: { type: config.sobject }, ...r.fields, [config.externalIdField]: r.profileId })) },
      }
    }
    if (op === "erase" && config.onErasure === "anonymise") {
      const emptied = Object.fromEntries(Object.keys(fields).map((f) => [f, f === "LastName" ? "Erased" : null]))
      return {
        method: "PATCH", url: base,
        body: { allOrNone: false, records: records.map((r) => ({ attributes: { type: config.sobject }, id: r.remoteId, ...emptied, [config.externalIdField]: null })) },
      }
    }
    return { method: "DELETE", url: `${base}?ids=${records.map((r) => encodeURIComponent(r.remoteId)).join(",")}&allOrNone=false`, body: undefined }
  }
  return {
    config: { ...config, fields },
    supports: new Set<Operation>(["upsert", "remove", "erase"]),
    maxBatch: () => Math.min(config.batchSize, 200),
    plan: (op, records) => plan(op, records),
    send: async (op, records, _batchId, signal): Promise<SendResult> => {
      const p = plan(op, records)
      const a = await request(p.url, { method: p.method, headers, ...(p.body === undefined ? {} : { body: JSON.stringify(p.body) }) }, signal, { privateNetwork: config.privateNetwork })
      const limit = usage(a)
      if (a.status === 403 && /REQUEST_LIMIT_EXCEEDED/.test(a.text)) {
        // The org's budget is a rolling 24 hours: retrying within seconds cannot help. Dead-lettered for a replay.
        return { kind: "retry", status: a.status, detail: answerDetail(a, `REQUEST_LIMIT_EXCEEDED ${limit}`.trim(), credentials), retryAfterMs: retryAfterMs(a.headers), giveUp: true }
      }
      if (a.status === 200 && Array.isArray(a.json)) {
        const results = a.json as Array<SaveResult>
        const items = records.map((r, i): ItemResult => {
          const res = results[i]
          if (res === undefined || res === null || typeof res !== "object") return { key: r.key, ok: false, retryable: true, detail: "no result for the record" }
          if (res.success) {
            // A deletion or update names the record by the id cdp sent; an upsert's answer gives the id cdp keeps for a
            // later erasure: one that is not a plain id is this record's error, not the run's.
            if (op !== "upsert") return { key: r.key, ok: true, remoteId: r.remoteId }
            const problem = remoteIdProblem(res.id)
            return problem === undefined ? { key: r.key, ok: true, remoteId: res.id as string }
              : { key: r.key, ok: false, retryable: false, detail: remoteIdWords("Salesforce", config.sobject, problem) }
          }
          const codes = (res.errors ?? []).map((e) => e.statusCode ?? "")
          if (op !== "upsert" && codes.some((c) => GONE.has(c))) return { key: r.key, ok: true, remoteId: r.remoteId }
          return {
            key: r.key, ok: false, retryable: codes.some((c) => TRANSIENT.has(c)),
            detail: (res.errors ?? []).map((e) => `${e.statusCode ?? ""}: ${e.message ?? ""}`).join("; ").slice(0, 200),
          }
        })
        const failed = items.filter((i) => !i.ok).length
        return { kind: "done", status: a.status, items, detail: answerDetail(a, [failed > 0 ? `${failed} record(s) failed` : "", limit].filter((x) => x !== "").join("; "), credentials) }
      }
      if (isRetryableStatus(a.status)) return { kind: "retry", status: a.status, detail: answerDetail(a, errorWords(a), credentials), retryAfterMs: retryAfterMs(a.headers) }
      return { kind: "refused", status: a.status, detail: answerDetail(a, errorWords(a), credentials) }
    },
  }
}
