// Keyset pages for the API's lists (audiences, tokens, DSRs, a destination's delivery history), the way the profile
// timeline pages (identity/timeline.ts): ?limit= (1 to the list's maximum) and ?cursor= (the previous page's
// nextCursor, opaque). A page starts strictly after the last key of the page before, so rows created or deleted
// meanwhile never shift a boundary the way OFFSET would: nothing is skipped or shown twice. A cursor is bound to the
// list and tenant that gave it (PageList).
import { EARLIEST_MS, LATEST_MS } from "../warehouse/calendar.ts"
import { isReply, type QueryReply, refuse, refuseRepeated } from "./query-route.ts"

/** A key's parts, in the list's order (e.g. [received at ms, request id]). */
export type PageKey = ReadonlyArray<string | number>

export interface PageRequest {
  readonly limit: number
  /** The last key of the previous page; undefined for the first page. */
  readonly after: PageKey | undefined
  /** The list and tenant the next page's cursor is bound to (readPage sets it); unset, the cursor is bound to none. */
  readonly list?: PageList | undefined
}

/**
 * What a cursor is bound to: the list that gave it (its name as messages say it: "requests", "operations") and the
 * tenant it was read for ("" when the query string named none: an unbound token's list of every tenant). Two lists
 * keyed alike (a DSR's and an operation's are both [time, id]) took each other's cursors, and paged from a place the
 * list never had; a cursor given to another list, or to the same list of another tenant, is now refused 400.
 */
export interface PageList {
  readonly what: string
  readonly tenant: string
}

/**
 * The list `what` of the request's URL, for the tenant its ?tenant= names (the guard wrote the effective one there);
 * `of` names the one thing it lists for when a tenant has many such lists (a destination's deliveries, an audience's
 * changes), so one's cursor does not page another's.
 */
export const pageList = (url: URL, what: string, of?: string): PageList => listOf(what, url.searchParams.get("tenant") ?? "", of)

/** The list `what` (of `of`, when given) of `tenant`: see pageList. */
export const listOf = (what: string, tenant: string, of?: string): PageList => ({ what: of === undefined ? what : `${what} of ${of}`, tenant })

export interface Page<A> {
  readonly items: ReadonlyArray<A>
  /** Pass as ?cursor= for the next page; null on the last page. */
  readonly nextCursor: string | null
}

/** A cursor after `key`, bound to `list` when given (a bare key otherwise). */
export const encodePageCursor = (key: PageKey, list?: PageList): string =>
  Buffer.from(JSON.stringify(list === undefined ? key : { list: list.what, tenant: list.tenant, after: key })).toString("base64url")

/** The latest time (ms) a DateTime64(3) holds: a whole-number part (a time, a counter) is at most this. */
const MAX_KEY_NUMBER = LATEST_MS

/** A cursor opened: its key and what it is bound to (undefined: a bare key, bound to no list). */
const openCursor = (cursor: string): { readonly key: unknown; readonly list: PageList | undefined } | undefined => {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))
    if (Array.isArray(v)) return { key: v, list: undefined }
    if (v === null || typeof v !== "object") return undefined
    const { list, tenant, after } = v as Record<string, unknown>
    return typeof list === "string" && typeof tenant === "string" ? { key: after, list: { what: list, tenant } } : undefined
  } catch { /* not a cursor we made */ }
  return undefined
}

const keyOfShape = (v: unknown, shape: string): PageKey | undefined => {
  if (!Array.isArray(v) || v.length !== shape.length) return undefined
  const fits = v.every((part, i) => shape[i] === "n" ? Number.isSafeInteger(part) && part >= 0 && part <= MAX_KEY_NUMBER
    : shape[i] === "t" ? Number.isSafeInteger(part) && part >= EARLIEST_MS && part <= LATEST_MS
    : typeof part === "string" && part.length <= 1000)
  return fits ? v as PageKey : undefined
}

const sameList = (a: PageList | undefined, b: PageList) => a !== undefined && a.what === b.what && a.tenant === b.tenant

/**
 * The key a cursor holds when it is one this API gave for a key of `shape` ("s" a string, "n" a whole number >= 0, "t"
 * a time in ms the warehouse holds, 1900 to 2299)
 * and, when `list` is given, for that list and tenant. Without `list` (`cdp consent show --cursor` on the data
 * directory, which names its tenant itself) a cursor bound to any list is read, as a bare key is.
 */
export const decodePageCursor = (cursor: string, shape: string, list?: PageList): PageKey | undefined => {
  const opened = openCursor(cursor)
  if (opened === undefined || (list !== undefined && !sameList(opened.list, list))) return undefined
  return keyOfShape(opened.key, shape)
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
 * `what` names the list in the message ("audiences"); `of`, the thing it lists for (see pageList).
 */
export const readPage = (url: URL, list: {
  readonly what: string; readonly of?: string; readonly shape: string; readonly fallback: number; readonly max: number
}): PageRequest | QueryReply => {
  const repeated = refuseRepeated(url, ["limit", "cursor"])
  if (repeated !== undefined) return repeated
  const text = url.searchParams.get("limit")
  if (text !== null && !(/^\d{1,9}$/.test(text) && Number(text) >= 1 && Number(text) <= list.max)) {
    return refuse(400, "bad_limit", `?limit= must be a whole number from 1 to ${list.max} (${list.what} per page)`, "limit")
  }
  const bound = pageList(url, list.what, list.of)
  const after = readCursor(url, list.shape, bound)
  if (isReply(after)) return after
  return { limit: text === null ? list.fallback : Number(text), after, list: bound }
}

/**
 * ?cursor= of a list's URL: the key it holds (undefined when absent or empty), or the 400 for one this API did not
 * give, or gave for another list or tenant than `list`.
 */
export const readCursor = (url: URL, shape: string, list: PageList): PageKey | undefined | QueryReply =>
  readCursorText(url.searchParams.get("cursor"), shape, list)

/**
 * readCursor of a cursor's text (a sealed one opened: the audit log's for a bound token); `name` is the query
 * parameter it came in and `from` the answer's field that gave it (an audience's members: ?after= and `next`).
 */
export const readCursorText = (cursor: string | null, shape: string, list: PageList, name = "cursor", from = "nextCursor"): PageKey | undefined | QueryReply => {
  if (cursor === null || cursor === "") return undefined
  const opened = openCursor(cursor)
  const key = opened === undefined ? undefined : keyOfShape(opened.key, shape)
  if (opened?.list !== undefined && !sameList(opened.list, list)) {
    return refuse(400, "bad_cursor", `?${name}= was given by another list or for another tenant: a cursor pages only the list that gave it (pass ${from} of this list's previous page as it is)`, name)
  }
  return key !== undefined && opened?.list !== undefined ? key
    : refuse(400, "bad_cursor", `?${name}= is not a cursor this API gave (pass ${from} of the previous page as it is)`, name)
}

/**
 * A cursor another layer gave as a bare key (identity/'s pages of a profile, which know no tenant's lists) bound to
 * `list`, as the route answers it; null stays null.
 */
export const bindCursor = (cursor: string | null, shape: string, list: PageList): string | null => {
  if (cursor === null) return null
  const key = decodePageCursor(cursor, shape)
  return key === undefined ? cursor : encodePageCursor(key, list)
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
  return { items, nextCursor: rows.length > page.limit && last !== undefined ? encodePageCursor(keyOf(last), page.list) : null }
}

/** About the most JSON a page of large items holds (pageOfBytes); one item alone may be more. */
export const MAX_PAGE_BYTES = 1024 * 1024

/** How many of `items`, from the first, fit in `maxBytes` of JSON: one at least (when there is one). */
export const fittingBytes = (items: ReadonlyArray<unknown>, maxBytes = MAX_PAGE_BYTES): number => {
  let shown = 0
  let bytes = 0
  for (const item of items) {
    bytes += JSON.stringify(item).length
    if (shown > 0 && bytes > maxBytes) break
    shown++
  }
  return shown
}

/**
 * pageOf for a list whose items can be large (an audience or a version of one holds its condition, up to a body's
 * 256 KB): the page also ends before its items pass `maxBytes` of JSON, one item at least, and its cursor goes on from
 * the last shown. A page of 100 audiences could otherwise answer 25 MB.
 */
export const pageOfBytes = <A>(rows: ReadonlyArray<A>, page: PageRequest, keyOf: (a: A) => PageKey, maxBytes = MAX_PAGE_BYTES): Page<A> => {
  const items = rows.slice(0, fittingBytes(rows.slice(0, page.limit), maxBytes))
  const last = items[items.length - 1]
  return { items, nextCursor: rows.length > items.length && last !== undefined ? encodePageCursor(keyOf(last), page.list) : null }
}

/** A page of a list held in memory (tokens): sorted by key, after the cursor. */
export const pageInMemory = <A>(all: ReadonlyArray<A>, page: PageRequest, keyOf: (a: A) => PageKey): Page<A> => {
  const sorted = [...all].sort((x, y) => keyAfter(keyOf(x), keyOf(y)) ? 1 : keyAfter(keyOf(y), keyOf(x)) ? -1 : 0)
  const after = page.after
  const rest = after === undefined ? sorted : sorted.filter((a) => keyAfter(keyOf(a), after))
  return pageOf(rest.slice(0, page.limit + 1), page, keyOf)
}
