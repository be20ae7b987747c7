// The HTTP shared by the destinations that are APIs: one request with the caller's abort signal, made to the address
// its host name was checked to resolve to, its answer read as JSON when it is JSON, and Retry-After read in either of
// its forms (seconds, HTTP date).
import { type IncomingMessage, request as httpRequest } from "node:http"
import { request as httpsRequest } from "node:https"
import { maskValues } from "../mask.ts"
import { pinnedLookup, PortRefused, portRefusal, type Resolver, vetHost } from "./address.ts"

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

const tooLarge = () => new Error(`the answer is larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MB, the most cdp reads of one`)

/** The answer's body, at most MAX_ANSWER_BYTES; past it the connection is closed and nothing more is read. */
const readBounded = async (res: IncomingMessage): Promise<string> => {
  if (Number(res.headers["content-length"] ?? 0) > MAX_ANSWER_BYTES) {
    res.destroy()
    throw tooLarge()
  }
  const chunks: Array<Buffer> = []
  let size = 0
  // Leaving the loop by a throw destroys the stream: nothing more is read.
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.byteLength
    if (size > MAX_ANSWER_BYTES) throw tooLarge()
    chunks.push(chunk)
  }
  // UTF-8, a byte-order mark dropped (as fetch's res.text() decodes).
  return new TextDecoder().decode(Buffer.concat(chunks))
}

export interface RequestOptions {
  /** The destination's opt-in: its host name may resolve to this machine or the private network. */
  readonly privateNetwork?: boolean | undefined
  /** How names are resolved (tests). */
  readonly resolve?: Resolver | undefined
  /** What the refusal of a private answer suggests instead (the alert webhook names its own settings). */
  readonly privateHint?: string | undefined
  /**
   * false: the answer's body is not read (its status says all, as for the alert webhook): the connection is closed
   * once the status and headers are in, and `text` is "".
   */
  readonly readBody?: boolean | undefined
}

/** A 3xx answer (but 304): not followed, as it could lead what is sent to a host nobody configured. */
export class RedirectRefused extends Error {
  readonly _tag = "RedirectRefused"
  readonly status: number
  constructor(status: number) {
    super(`HTTP ${status}: a redirect, not followed`)
    this.status = status
  }
}

/**
 * `promise`, or the signal's reason once it fires, whichever comes first: a name's resolution takes no signal, and a
 * resolver that never answered held the request (and the listening report waiting on its alert) without end. A
 * promise already settled wins over a signal already fired (a refused address says so, not "aborted").
 */
const untilAborted = <A>(promise: Promise<A>, signal: AbortSignal): Promise<A> => {
  let onAbort = () => {}
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason)
    if (signal.aborted) onAbort()
    else signal.addEventListener("abort", onAbort, { once: true })
  })
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener("abort", onAbort))
}

/**
 * One request. The URL's host name is resolved and checked here, at delivery time (address.ts), and the connection is
 * made to the address checked. A redirect is not followed: it fails the request, as it could lead what is sent to a
 * host nobody configured.
 */
export const request = async (url: string, init: { method: string; headers: Record<string, string>; body?: string }, signal: AbortSignal, options: RequestOptions = {}): Promise<Answer> => {
  const u = new URL(url)
  const port = portRefusal(u)
  if (port !== undefined) throw new PortRefused(port, "a port of another protocol", true)
  const pinned = await untilAborted(vetHost(u.hostname, { privateNetwork: options.privateNetwork, resolve: options.resolve, privateHint: options.privateHint }), signal)
  signal.throwIfAborted()
  const send = u.protocol === "https:" ? httpsRequest : httpRequest
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = send(u, {
      method: init.method, signal,
      headers: { ...init.headers, ...(init.body === undefined ? {} : { "content-length": String(Buffer.byteLength(init.body)) }) },
      ...(pinned === undefined ? {} : { lookup: pinnedLookup(pinned) }),
    }, resolve)
    req.on("error", reject)
    req.end(init.body)
  })
  const status = res.statusCode ?? 0
  if (status >= 300 && status < 400 && status !== 304) {
    res.destroy()
    throw new RedirectRefused(status)
  }
  let text = ""
  if (options.readBody === false) res.destroy()
  else text = await readBounded(res)
  const headers = new Headers()
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v)
  }
  let json: unknown
  try {
    json = text === "" ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status, headers, json, text }
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
 * The words with their control characters (C0, DEL, C1) as one space each run: a receiver's answer is shown in a
 * terminal by `cdp export history`, where an escape sequence in it would clear the screen, retitle the window or fake
 * lines of the table.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]+/g
const printable = (words: string): string => words.replace(CONTROL, " ")

/**
 * A short description of an answer for the delivery log: status and the server's own words, cut. The words may quote
 * what was sent (a receiver echoing a record, a CRM naming the value it refused): their e-mail addresses and phone
 * numbers are masked, as a marketer (exports:read, who reads the log) sees them everywhere else, and the destination's
 * `credentials` (its token, its URL's path and query: config.ts credentialsOf) are ***, as its status shows them;
 * control characters become spaces.
 */
export const answerDetail = (a: Answer, words?: string, credentials: ReadonlyArray<string> = []): string =>
  `HTTP ${a.status}${words === undefined || words === "" ? "" : `: ${printable(maskValues([withoutCredentials(words, credentials)])[0] as string)}`}`.slice(0, 300)

/** The words with each of the destination's credentials (config.ts credentialsOf, longest first) as ***. */
const withoutCredentials = (words: string, credentials: ReadonlyArray<string>): string =>
  credentials.reduce((w, c) => w.replaceAll(c, "***"), words)

export const isRetryableStatus = (status: number) => status === 408 || status === 429 || status >= 500
