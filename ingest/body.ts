// Reading a request body at the edge: at most `limit` bytes, decompressed by Content-Encoding, refused when the
// sender stalls mid-body, and, for text, decoded strictly as UTF-8 (never a silent U+FFFD).
import type { IncomingMessage } from "node:http"
import { gunzipSync, inflateSync } from "node:zlib"
import { Effect } from "effect"
import type { Rejection } from "./message.ts"
import { decodeUtf8 } from "./utf8.ts"

export class BodyTooLarge {
  readonly limit: number
  constructor(limit: number) {
    this.limit = limit
  }
}

/** The sender sent no byte of its body for the idle timeout. */
export class BodyTimeout extends Error {
  readonly idleMs: number
  constructor(idleMs: number) {
    super(`no byte of the body arrived for ${idleMs / 1000} s; send the body without pauses`)
    this.idleMs = idleMs
  }
}

/** A text body holding bytes that are not UTF-8. */
export class InvalidUtf8 extends Error {
  readonly rejection: Rejection
  constructor(rejection: Rejection) {
    super(rejection.message)
    this.rejection = rejection
  }
}

/** How long a body may pause between two chunks before the request is answered 408 (CollectorOptions.bodyIdleTimeout). */
export const DEFAULT_BODY_IDLE_MS = 10_000

/** Reads at most `limit` bytes (plus one, to detect overflow) of the raw body. */
const readBody = (req: IncomingMessage, limit: number, idleMs: number): Promise<Buffer | BodyTooLarge | BodyTimeout> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    let size = 0
    let done = false
    let idle: NodeJS.Timeout | undefined
    const finish = (result: Buffer | BodyTooLarge | BodyTimeout) => {
      clearTimeout(idle)
      if (done) return
      done = true
      resolve(result)
    }
    const armIdle = () => {
      clearTimeout(idle)
      idle = setTimeout(() => finish(new BodyTimeout(idleMs)), idleMs)
    }
    armIdle()
    req.on("data", (chunk: Buffer) => {
      if (done) return
      armIdle()
      size += chunk.length
      if (size > limit) {
        finish(new BodyTooLarge(limit))
        req.resume()
        return
      }
      chunks.push(chunk)
    })
    req.on("end", () => finish(Buffer.concat(chunks, size)))
    req.on("close", () => clearTimeout(idle))
    req.on("error", (e) => {
      clearTimeout(idle)
      if (!done) reject(e)
    })
  })

/** A compressed body that is not a whole stream of its Content-Encoding (cut short, or not compressed at all). */
export class CorruptBody extends Error {}

/**
 * Decompresses the body by Content-Encoding, whatever Content-Type says (RudderStack sends gzip as form-urlencoded).
 * The stream must end as its format ends it: read to wherever it stopped, a body cut short at a line's end was taken
 * for the whole (a call export's first rows, a mail without its last paragraph, answered 200).
 */
const decodeBody = (raw: Buffer, encoding: string | undefined, limit: number): Buffer | BodyTooLarge | Error => {
  const enc = (encoding ?? "identity").trim().toLowerCase()
  try {
    if (enc === "identity" || enc === "") return raw
    const options = { maxOutputLength: limit + 1 }
    const out = enc === "gzip" || enc === "x-gzip" ? gunzipSync(raw, options) : enc === "deflate" ? inflateSync(raw, options) : undefined
    if (out === undefined) return new Error(`Content-Encoding "${encoding}" is not supported (use gzip, deflate or none)`)
    return out.length > limit ? new BodyTooLarge(limit) : out
  } catch (e) {
    const code = (e as { code?: string }).code
    if (code === "ERR_BUFFER_TOO_LARGE") return new BodyTooLarge(limit)
    return new CorruptBody(code === "Z_BUF_ERROR"
      ? `the ${enc} body was cut short: it ends before its compressed stream does; send the whole body again`
      : `the body could not be decompressed as ${enc}: ${(e as Error).message}`)
  }
}

/** The request body's bytes, read up to `limit` bytes and decompressed (mail: its charset is its own business). */
export const receiveBytes = (req: IncomingMessage, limit: number, idleMs = DEFAULT_BODY_IDLE_MS) =>
  Effect.map(Effect.promise(() => readBody(req, limit, idleMs)), (raw) =>
    raw instanceof Buffer ? decodeBody(raw, req.headers["content-encoding"], limit) : raw)

const BYTE_ORDER_MARK = 0xfeff

/**
 * The request body as text: as `receiveBytes`, then decoded as UTF-8, refusing bytes that are not. A leading byte
 * order mark (some Windows tools write one) is no part of the text: RFC 8259 lets a JSON reader ignore it, and kept,
 * it made the body "not valid JSON (Unexpected token '﻿')", a character the sender cannot see.
 */
export const receiveBody = (req: IncomingMessage, limit: number, idleMs = DEFAULT_BODY_IDLE_MS) =>
  Effect.map(receiveBytes(req, limit, idleMs), (body): string | BodyTooLarge | Error => {
    if (body instanceof BodyTooLarge || body instanceof Error) return body
    const text = decodeUtf8(body)
    return typeof text !== "string" ? new InvalidUtf8(text) : text.charCodeAt(0) === BYTE_ORDER_MARK ? text.slice(1) : text
  })


/** What a sender is told about a body that could not be read (`Error` results of `receiveBody`). */
export const bodyErrorReply = (error: Error): { readonly status: number; readonly rule: string; readonly message: string } =>
  error instanceof BodyTimeout
    ? { status: 408, rule: "body_timeout", message: error.message }
    : error instanceof InvalidUtf8
      ? { status: 400, rule: error.rejection.rule, message: error.message }
      : { status: error instanceof CorruptBody ? 400 : 415, rule: "bad_encoding", message: error.message }
