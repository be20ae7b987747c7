// Parses one raw Segment item again (archive replay, dead-letter retry): a message's JSON, read with the receive-time
// facts its meta records, or a whole request body that was refused as a whole (a batch over the limits, say).
import { readJson } from "../json.ts"
import type { DeadLetter, JsonObject, Rejection } from "../message.ts"
import { processSegmentRequest } from "../segment-api.ts"
import type { ImportContext, ImportedItem } from "./index.ts"
import { isJsonObject } from "../schemas.ts"
import { sourceTimeZone, toIso } from "./items.ts"
import { ConsentPacing, normaliseSegmentMessage, type SegmentMessage, segmentReceiveContext } from "./segment.ts"

const deadLetterItem = (deadLetter: DeadLetter): ImportedItem => ({ _tag: "deadLetter", deadLetter })

/**
 * `meta` is what `segmentRawMeta` recorded; without it (a file line, a dead letter's payload) the client's timestamps
 * are kept as sent, as for a historical import. A body holding a `batch` array and no `type` is a whole request
 * and is processed as one: as /v1/batch when the meta says clock skew was corrected, else as /v1/import.
 */
export const parseSegmentRaw = async (body: string, meta: JsonObject | undefined, ctx: ImportContext): Promise<ReadonlyArray<ImportedItem>> => {
  const refuse = (rejection: Rejection, messageId = ""): ImportedItem =>
    deadLetterItem({ tenant: ctx.tenant, source: "segment", receivedAt: toIso(ctx.receivedAtMs), messageId, rejection, payload: body })
  const read = readJson(body)
  if (read._tag === "refused") return [refuse(read.rejection)]
  const message = read.value
  if (isJsonObject(message) && message["type"] === undefined && Array.isArray(message["batch"])) {
    const route = meta?.["correctClockSkew"] === true ? "batch" : "import"
    const result = processSegmentRequest({ route, body, tenant: ctx.tenant, receivedAtMs: ctx.receivedAtMs, timeZone: sourceTimeZone(meta) })
    return [
      ...result.events.map((event): ImportedItem => ({ _tag: "event", event })),
      ...result.deadLetters.map(deadLetterItem),
    ]
  }
  // Its consent strings are read under the run's pacing: a replay of costly ones gives the event loop turns.
  const rejection = await (ctx.consentPacing ?? new ConsentPacing()).validate(message, Buffer.byteLength(body))
  if (rejection !== null) {
    const id = isJsonObject(message) ? message["messageId"] : undefined
    return [refuse(rejection, typeof id === "string" ? id : "")]
  }
  const receive = segmentReceiveContext(ctx.tenant, ctx.receivedAtMs, meta)
  const event = normaliseSegmentMessage(message as SegmentMessage, receive, meta === undefined ? { body, json: true } : { body, meta, json: true })
  return [{ _tag: "event", event }]
}
