// Signed webhooks: each batch is one POST of JSON, signed like Stripe's: header `Cdp-Signature: t=UNIX,v1=HEX` where
// HEX is HMAC-SHA256(secret, `${t}.${body}`). `Idempotency-Key` is the batch id, the same on every retry, so a
// receiver that keeps the keys it has seen applies a batch once. Records are keyed by `recordId` (stable per
// destination and profile); an erasure sends `profiles.erase` with record ids only.
import { createHmac, timingSafeEqual } from "node:crypto"
import { credentialsOf, type DestinationConfig } from "./config.ts"
import { answerDetail, isRetryableStatus, request, retryAfterMs } from "./http.ts"
import { type DestinationClient, type Operation, type OutRecord, recordIdOf, type SendResult } from "./record.ts"

export const SIGNATURE_HEADER = "Cdp-Signature"

export const signature = (secret: string, timestamp: number, body: string): string =>
  `t=${timestamp},v1=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`

/** Checks a signature header (for receivers and tests): within `toleranceS` of now, constant-time compare. */
export const verifySignature = (secret: string, header: string, body: string, nowS = Math.floor(Date.now() / 1000), toleranceS = 300): boolean => {
  const parts = Object.fromEntries(header.split(",").map((p) => p.split("=", 2) as [string, string]))
  const t = Number(parts["t"])
  if (!Number.isInteger(t) || Math.abs(nowS - t) > toleranceS || parts["v1"] === undefined) return false
  const expected = signature(secret, t, body).split("v1=")[1]!
  return expected.length === parts["v1"].length && timingSafeEqual(Buffer.from(expected), Buffer.from(parts["v1"]))
}

const TYPES: Readonly<Record<Operation, string>> = { upsert: "profiles.upsert", remove: "profiles.remove", erase: "profiles.erase" }

export const makeWebhook = (config: DestinationConfig): DestinationClient => {
  // What of it a receiver may quote back, kept out of the delivery log (answerDetail).
  const credentials = credentialsOf(config)
  const bodyOf = (op: Operation, records: ReadonlyArray<OutRecord>, batchId: string) => ({
    id: batchId, type: TYPES[op], destination: config.name,
    records: records.map((r) => op === "erase" ? { recordId: r.remoteId }
      : op === "remove" ? { recordId: r.remoteId || recordIdOf(config.tenant, config.name, r.profileId), profileId: r.profileId }
      : { recordId: recordIdOf(config.tenant, config.name, r.profileId), ...r.fields }),
  })
  return {
    config,
    supports: new Set<Operation>(["upsert", "remove", "erase"]),
    maxBatch: () => config.batchSize,
    plan: (op, records, batchId) => ({ method: "POST", url: config.url, body: bodyOf(op, records, batchId) }),
    send: async (op, records, batchId, signal): Promise<SendResult> => {
      const body = JSON.stringify(bodyOf(op, records, batchId))
      const a = await request(config.url, {
        method: "POST", body,
        headers: {
          "content-type": "application/json", "idempotency-key": batchId,
          [SIGNATURE_HEADER.toLowerCase()]: signature(config.secret, Math.floor(Date.now() / 1000), body),
        },
      }, signal, { privateNetwork: config.privateNetwork })
      if (a.status >= 200 && a.status < 300) {
        return {
          kind: "done", status: a.status, detail: answerDetail(a),
          items: records.map((r) => ({ key: r.key, ok: true as const, remoteId: op === "erase" ? r.remoteId : r.remoteId || recordIdOf(config.tenant, config.name, r.profileId) })),
        }
      }
      if (isRetryableStatus(a.status)) return { kind: "retry", status: a.status, detail: answerDetail(a), retryAfterMs: retryAfterMs(a.headers) }
      return { kind: "refused", status: a.status, detail: answerDetail(a, a.text.slice(0, 200), credentials) }
    },
  }
}
