// The HTTP shared by the destinations that are APIs: one request with the caller's abort signal, its answer read as
// JSON when it is JSON, and Retry-After read in either of its forms (seconds, HTTP date).
import { maskValues } from "../mask.ts"

export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly json: unknown
  readonly text: string
}

/**
 * The most of an answer read. What an API answers for one batch (per-record results of 100-200 records) is far less;
 * an answer without end (a receiver that streams) would otherwise fill the server's memory until the timeout.
 */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024

const readBounded = async (res: Response): Promise<string> => {
  const tooLarge = () => new Error(`the answer is larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MB, the most cdp reads of one`)
  if (Number(res.headers.get("content-length") ?? 0) > MAX_ANSWER_BYTES) {
    await res.body?.cancel()
    throw tooLarge()
  }
  if (res.body === null) return ""
  const chunks: Array<Uint8Array> = []
  let size = 0
  // Leaving the loop by a throw cancels the stream: nothing more is read.
  for await (const chunk of res.body) {
    size += chunk.byteLength
    if (size > MAX_ANSWER_BYTES) throw tooLarge()
    chunks.push(chunk)
  }
  // As res.text() decodes: UTF-8, a byte-order mark dropped.
  return new TextDecoder().decode(Buffer.concat(chunks))
}

export const request = async (url: string, init: { method: string; headers: Record<string, string>; body?: string }, signal: AbortSignal): Promise<Answer> => {
  const res = await fetch(url, { ...init, signal, redirect: "error" })
  const text = await readBounded(res)
  let json: unknown
  try {
    json = text === "" ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, json, text }
}

/** Milliseconds the server asked to wait, or undefined. */
export const retryAfterMs = (headers: Headers, now = Date.now()): number | undefined => {
  const v = headers.get("retry-after")
  if (v === null || v.trim() === "") return undefined
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.round(Number(v.trim()) * 1000)
  const at = Date.parse(v)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/**
 * A short description of an answer for the delivery log: status and the server's own words, cut. The words may quote
 * what was sent (a receiver echoing a record, a CRM naming the value it refused): their e-mail addresses and phone
 * numbers are masked, as a marketer (exports:read, who reads the log) sees them everywhere else.
 */
export const answerDetail = (a: Answer, words?: string): string =>
  `HTTP ${a.status}${words === undefined || words === "" ? "" : `: ${maskValues([words])[0] as string}`}`.slice(0, 300)

export const isRetryableStatus = (status: number) => status === 408 || status === 429 || status >= 500
