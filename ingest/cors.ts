// CORS on the Segment routes, served as Segment's API serves it, so analytics.js and RudderStack's browser SDK work
// from any website: the write key (not the page's origin) is the credential, so every origin may send by default,
// and a source that wants more restricts its key to an allow-list of origins (writekeys.ts).
import type { IncomingMessage } from "node:http"
import { SEGMENT_ROUTES } from "./segment-api.ts"
import type { WriteKeys } from "./writekeys.ts"

/** Browsers cap this (Chrome at 2 h); a day saves a preflight per page view where they do not. */
const PREFLIGHT_MAX_AGE_SECONDS = 86_400
const ALLOWED_METHODS = "POST, OPTIONS"
/** What the SDKs send, for a preflight that does not list its headers. */
const DEFAULT_ALLOWED_HEADERS = "Authorization, Content-Type, Content-Encoding, X-Retry-Count, AnonymousId"
/** A comma-separated list of header names (RFC 9110 tokens), safe to echo back. */
const HEADER_LIST = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*$/

const SEGMENT_PATH = /^\/v1\/([a-z]+)\/*$/

/** Whether the request is for a route web pages send to (the Segment routes; not webhooks, queries or health). */
export const isBrowserRoute = (req: IncomingMessage): boolean => {
  const name = SEGMENT_PATH.exec((req.url ?? "/").split("?", 1)[0]!)?.[1]
  return name !== undefined && SEGMENT_ROUTES.has(name)
}

const originOf = (req: IncomingMessage): string | undefined => {
  const origin = req.headers.origin
  return typeof origin === "string" && origin !== "" ? origin : undefined
}

/**
 * Headers for every response on a browser route to a request from a page (one with an Origin), 4xx and 5xx included,
 * so the page's SDK can read why it was refused and when to retry. The origin is echoed, not `*`, so an SDK configured
 * to send credentials works too: the collector reads no cookies, so they grant nothing.
 */
export const corsHeaders = (req: IncomingMessage): Record<string, string> => {
  const origin = originOf(req)
  if (origin === undefined || !isBrowserRoute(req)) return {}
  return {
    "access-control-allow-origin": origin,
    "access-control-allow-credentials": "true",
    "access-control-expose-headers": "Retry-After",
    vary: "Origin",
  }
}

/**
 * The headers of the answer (204) to OPTIONS on a browser route. A preflight carries no credentials, so it cannot know the write key and
 * allows every origin; the real request is then checked against its key's allow-list (`originRefusal`).
 */
export const preflightHeaders = (req: IncomingMessage): Record<string, string> => {
  const requested = req.headers["access-control-request-headers"]
  const headers: Record<string, string> = {
    ...corsHeaders(req),
    allow: ALLOWED_METHODS,
    "access-control-allow-methods": ALLOWED_METHODS,
    "access-control-allow-headers": typeof requested === "string" && HEADER_LIST.test(requested.trim()) ? requested.trim() : DEFAULT_ALLOWED_HEADERS,
    "access-control-max-age": String(PREFLIGHT_MAX_AGE_SECONDS),
    vary: "Origin, Access-Control-Request-Headers",
  }
  // Chrome asks before a public page may reach a collector on a private address (an intranet or self-hosted one).
  if (req.headers["access-control-request-private-network"] === "true") headers["access-control-allow-private-network"] = "true"
  return headers
}

/**
 * Why a request from a page may not send with this (known) write key, or undefined when it may: requests without an
 * Origin (servers, curl) are not browsers, and a key without an allow-list accepts every origin. Checked on every route
 * that takes a write key, webhooks too: a page can post to a webhook with a simple request, no preflight needed.
 */
export const originRefusal = (writeKeys: WriteKeys, writeKey: string, req: IncomingMessage): string | undefined => {
  const origin = originOf(req)
  if (origin === undefined || writeKeys.originAllowed(writeKey, origin)) return undefined
  return `pages on ${origin} may not send with this write key: add the origin to the key's allowed origins (CDP_ALLOWED_ORIGINS="KEY=${origin}")`
}
