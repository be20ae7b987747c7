// Keyset pages for the API's lists (audiences, tokens, DSRs, a destination's delivery history), the way the profile
// timeline pages (identity/timeline.ts): ?limit= (1 to the list's maximum) and ?cursor= (the previous page's
// nextCursor, opaque). A page starts strictly after the last key of the page before, so rows created or deleted
// meanwhile never shift a boundary the way OFFSET would: nothing is skipped or shown twice.
import { LATEST_MS } from "../warehouse/calendar.ts"
import { isReply, type QueryReply, refuse, refuseRepeated } from "./query-route.ts"

/** A key's parts, in the list's order (e.g. [received at ms, request id]). */
export type PageKey = ReadonlyArray<string | number>

export interface PageRequest {
  readonly limit: number
  /** The last key of the previous page; undefined for the first page. */
  readonly after: PageKey | undefined
}

export interface Page<A> {
  readonly items: ReadonlyArray<A>
  /** Pass as ?cursor= for the next page; null on the last page. */
  readonly nextCursor: string | null
}

export const encodePageCursor = (key: PageKey): string => Buffer.from(JSON.stringify(key)).toString("base64url")

/** The latest time (ms) a DateTime64(3) holds: a whole-number part (a time, a counter) is at most this. */
const MAX_KEY_NUMBER = LATEST_MS

/** The key a cursor holds when it is one this API gave for a key of `shape` ("s" a string, "n" a whole number >= 0). */
export const decodePageCursor = (cursor: string, shape: string): PageKey | undefined => {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))
    if (!Array.isArray(v) || v.length !== shape.length) return undefined
    const fits = v.every((part, i) => shape[i] === "n" ? Number.isSafeInteger(part) && part >= 0 && part <= MAX_KEY_NUMBER : typeof part === "string" && part.length <= 1000)
    return fits ? v as PageKey : undefined
  } catch { /* not a cursor we made */ }
  return undefined
}

/**
 * The 400 naming a query parameter a list or route does not take besides ?tenant= (a misspelt ?limt=5 must not pass
 * as the default page), and the ones it takes.
 */
export const refuseUnknownParameter = (url: URL, takes: ReadonlyArray<string> = ["limit", "cursor"], taker: "list" | "route" = "list"): QueryReply | undefined => {
  const name = [...url.searchParams.keys()].find((n) => n !== "tenant" && !takes.includes(n))
  return name === undefined ? undefined
    : refuse(400, "unknown_parameter", `?${name.slice(0, 80)}= is not taken here; this ${taker} takes ` +
      `${takes.length === 0 ? "no parameter but ?tenant=" : takes.map((t) => `?${t}=`).join(", ")}`, name.slice(0, 80))
}

/**
 * The 400 naming a query parameter of a POST that takes its settings in its JSON body (`fields`), besides ?tenant=:
 * ignored, POST /v1/dead-letters/retry?source=chat re-drove every dead letter, and ?scopes= beside {"role": "admin"}
 * made a full admin token.
 */
export const refuseQueryOfBody = (url: URL, fields: ReadonlyArray<string>): QueryReply | undefined => {
  const name = [...url.searchParams.keys()].find((n) => n !== "tenant")
  return name === undefined ? undefined
    : refuse(400, "unknown_parameter", `?${name.slice(0, 80)}= is not taken here; this route takes ?tenant=, and the rest in the JSON body ` +
      `(${fields.map((f) => JSON.stringify(f)).join(", ")})`, name.slice(0, 80))
}

/**
 * ?limit= and ?cursor= of a list's URL, or the 400 naming the parameter. `shape` is the key's (see decodePageCursor);
 * `what` names the list in the message ("audiences").
 */

export const readPage = (url: URL, list: { readonly what: string; readonly shape: string; readonly fallback: number; readonly max: number }): PageRequest | QueryReply => {
  const repeated = refuseRepeated(url, ["limit", "cursor"])
  if (repeated !== undefined) return repeated
  const text = url.searchParams.get("limit")
  if (text !== null && !(/^\d{1,9}$/.test(text) && Number(text) >= 1 && Number(text) <= list.max)) {
    return refuse(400, "bad_limit", `?limit= must be a whole number from 1 to ${list.max} (${list.what} per page)`, "limit")
  }
  const after = readCursor(url, list.shape)
  if (isReply(after)) return after
  return { limit: text === null ? list.fallback : Number(text), after }
}

/** ?cursor= of a list's URL: the key it holds (undefined when absent or empty), or the 400 for one this API did not give. */
export const readCursor = (url: URL, shape: string): PageKey | undefined | QueryReply => {
  const cursor = url.searchParams.get("cursor")
  if (cursor === null || cursor === "") return undefined
  return decodePageCursor(cursor, shape)
    ?? refuse(400, "bad_cursor", "?cursor= is not a cursor this API gave (pass nextCursor of the previous page as it is)", "cursor")
}

/** Whether key `a` sorts after key `b`, part by part (strings by code unit). */
const keyAfter = (a: PageKey, b: PageKey): boolean => {
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue
    return a[i]! > b[i]!
  }
  return false
}

/**
 * A page of `rows`, which hold up to `limit + 1` rows after the cursor in key order (the one extra tells whether another
 * page follows).
 */
export const pageOf = <A>(rows: ReadonlyArray<A>, page: PageRequest, keyOf: (a: A) => PageKey): Page<A> => {
  const items = rows.slice(0, page.limit)
  const last = items[items.length - 1]
  return { items, nextCursor: rows.length > page.limit && last !== undefined ? encodePageCursor(keyOf(last)) : null }
}

/** A page of a list held in memory (tokens): sorted by key, after the cursor. */
export const pageInMemory = <A>(all: ReadonlyArray<A>, page: PageRequest, keyOf: (a: A) => PageKey): Page<A> => {
  const sorted = [...all].sort((x, y) => keyAfter(keyOf(x), keyOf(y)) ? 1 : keyAfter(keyOf(y), keyOf(x)) ? -1 : 0)
  const after = page.after
  const rest = after === undefined ? sorted : sorted.filter((a) => keyAfter(keyOf(a), after))
  return pageOf(rest.slice(0, page.limit + 1), page, keyOf)
}
