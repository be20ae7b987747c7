// NDJSON files of Segment messages (one message a line), as exported by Segment or written by hand.
import { readJson } from "../json.ts"
import type { DeadLetter, Rejection } from "../message.ts"
import type { ImportContext, ImportedItem } from "./index.ts"
import { readFileLines, sourceTimeZone } from "./items.ts"
import { keptPayload } from "../utf8.ts"
import { ConsentPacing, normaliseSegmentMessage, redactWriteKeys, type SegmentMessage } from "./segment.ts"

export async function* readSegmentFile(path: string, ctx: ImportContext): AsyncGenerator<ImportedItem> {
  const receivedAt = new Date(ctx.receivedAtMs).toISOString()
  // A file is history: the client's timestamps are kept as they are (no clock-skew correction against now).
  const receive = { tenant: ctx.tenant, receivedAtMs: ctx.receivedAtMs, correctClockSkew: false, timeZone: sourceTimeZone(ctx.options) }
  let lineNumber = 0
  const pacing = ctx.consentPacing ?? new ConsentPacing()
  const refuse = (line: string | Buffer, rejection: Rejection, messageId = ""): ImportedItem => {
    const deadLetter: DeadLetter = {
      tenant: ctx.tenant, source: "segment", receivedAt, messageId,
      // Without the write key a sender may repeat in each message, as the HTTP API keeps its refused bodies. A line
      // that is not UTF-8 is redacted as latin1 (one character a byte, and back; a write key is ASCII) and kept whole.
      rejection: { ...rejection, message: `line ${lineNumber}: ${rejection.message}` },
      ...(typeof line === "string" ? { payload: redactWriteKeys(line) } : keptPayload(Buffer.from(redactWriteKeys(line.toString("latin1")), "latin1"))),
    }
    return { _tag: "deadLetter", deadLetter }
  }
  for await (const { text: line, lineNumber: n, refused, bytes } of readFileLines(path, ctx.onProgress)) {
    lineNumber = n
    if (refused !== undefined) {
      yield refuse(bytes ?? line, refused)
      continue
    }
    if (line.trim() === "") continue
    const read = readJson(line)
    if (read._tag === "refused") {
      yield refuse(line, read.rejection)
      continue
    }
    const message = read.value
    const rejection = await pacing.validate(message, Buffer.byteLength(line))
    if (rejection !== null) {
      const id = (message as { messageId?: unknown } | null)?.messageId
      yield refuse(line, rejection, typeof id === "string" ? id : "")
      continue
    }
    // The line is the message as received; a file carries no receive-time facts, so the raw item needs no meta (but
    // the zone a time without one was read in, which normaliseSegmentMessage adds).
    yield { _tag: "event", event: normaliseSegmentMessage(message as SegmentMessage, receive, { body: line, json: true }) }
  }
}

