// NDJSON files of Segment messages (one message a line), as exported by Segment or written by hand.
import { createReadStream } from "node:fs"
import { createInterface } from "node:readline"
import type { DeadLetter, Rejection } from "../message.ts"
import type { ImportContext, ImportedItem } from "./index.ts"
import { normaliseSegmentMessage, type SegmentMessage, validateSegmentMessage } from "./segment.ts"

export async function* readSegmentFile(path: string, ctx: ImportContext): AsyncGenerator<ImportedItem> {
  const stream = createReadStream(path)
  const lines = createInterface({ input: stream, crlfDelay: Infinity })
  const receivedAt = new Date(ctx.receivedAtMs).toISOString()
  // A file is history: the client's timestamps are kept as they are (no clock-skew correction against now).
  const receive = { tenant: ctx.tenant, receivedAtMs: ctx.receivedAtMs, correctClockSkew: false }
  let lineNumber = 0
  const refuse = (line: string, rejection: Rejection, messageId = ""): ImportedItem => {
    const deadLetter: DeadLetter = {
      tenant: ctx.tenant, source: "segment", receivedAt, messageId,
      rejection: { ...rejection, message: `line ${lineNumber}: ${rejection.message}` }, payload: line,
    }
    return { _tag: "deadLetter", deadLetter }
  }
  for await (const line of lines) {
    lineNumber++
    if (lineNumber % 1000 === 0) ctx.onProgress?.(stream.bytesRead)
    if (line.trim() === "") continue
    let message: unknown
    try {
      message = JSON.parse(line)
    } catch (e) {
      yield refuse(line, { rule: "not_json", field: "", message: `not valid JSON: ${(e as Error).message}` })
      continue
    }
    const rejection = validateSegmentMessage(message, Buffer.byteLength(line))
    if (rejection !== null) {
      const id = (message as { messageId?: unknown } | null)?.messageId
      yield refuse(line, rejection, typeof id === "string" ? id : "")
      continue
    }
    // The line is the message as received; a file carries no receive-time facts, so the raw item needs no meta.
    yield { _tag: "event", event: normaliseSegmentMessage(message as SegmentMessage, receive, { body: line, json: true }) }
  }
  ctx.onProgress?.(stream.bytesRead)
}

