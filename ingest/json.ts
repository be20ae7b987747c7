// The one reader of JSON text that arrives from outside (HTTP bodies, file lines and documents, archived and
// dead-lettered raw items). It refuses, naming the rule and the field (JSON pointer), what the rest of the pipeline
// cannot hold faithfully: nesting deep enough to overflow a recursive step downstream (ajv, JSON.stringify, the
// warehouse's JSON parser), and numbers JSON.parse would silently change (1e400 becomes Infinity, then null;
// 9007199254740993 becomes 9007199254740992).
import type { Rejection } from "./message.ts"

export const JSON_LIMITS = {
  /** Objects and arrays inside one another; ClickHouse's own JSON input stops at 1000. */
  maxDepth: 100,
  /** One JSON document (an NDJSON line, a body, a file read whole). */
  maxBytes: 64 * 1024 * 1024,
} as const

export type JsonReading =
  | { readonly _tag: "json"; readonly value: unknown }
  | { readonly _tag: "refused"; readonly rejection: Rejection }

export interface JsonLimits {
  readonly maxDepth?: number
  readonly maxBytes?: number
}

const refused = (rule: string, field: string, message: string): JsonReading =>
  ({ _tag: "refused", rejection: { rule, field, message } })

const QUOTE = 34
const BACKSLASH = 92
const OPEN_OBJECT = 123
const CLOSE_OBJECT = 125
const OPEN_ARRAY = 91
const CLOSE_ARRAY = 93
const COMMA = 44
const COLON = 58
const MINUS = 45
const ZERO = 48
const NINE = 57

/** More significant digits than this may not survive as a double: such a number is looked at closely. */
const SAFE_DIGITS = 15

/** Why a number literal cannot be kept as JSON.parse would read it; undefined when it can. */
const numberProblem = (literal: string): { rule: string; why: string } | undefined => {
  const value = Number(literal)
  if (!Number.isFinite(value)) {
    return { rule: "number_out_of_range", why: `${literal} is beyond the largest number that can be stored (about 1.8e308)` }
  }
  const integer = !/[.eE]/.test(literal)
  if (value === 0 && /[1-9]/.test(literal.replace(/[eE].*$/, ""))) {
    return { rule: "number_out_of_range", why: `${literal} is too small to be stored (it would become 0)` }
  }
  if (integer && !Number.isSafeInteger(value) && BigInt(literal) !== BigInt(value)) {
    return {
      rule: "integer_too_large",
      why: `${literal} is beyond 2^53 and would be stored as ${BigInt(value)}; send it as a string to keep every digit`,
    }
  }
  return undefined
}

/** A JSON pointer step: "~" and "/" escaped as RFC 6901 says. */
const step = (key: string): string => key.replace(/~/g, "~0").replace(/\//g, "~1")

/**
 * The JSON pointer of the value that starts at `target` in a text already scanned (only reached on refusal, so it
 * may allocate).
 */
const pointerAt = (text: string, target: number): string => {
  const frames: Array<{ array: boolean; index: number; key: string; expectKey: boolean }> = []
  for (let i = 0; i < target; i++) {
    const c = text.charCodeAt(i)
    const top = frames[frames.length - 1]
    if (c === QUOTE) {
      const start = i
      i++
      while (i < text.length) {
        const d = text.charCodeAt(i)
        if (d === BACKSLASH) i += 2
        else if (d === QUOTE) break
        else i++
      }
      if (top !== undefined && !top.array && top.expectKey) {
        try {
          top.key = JSON.parse(text.slice(start, i + 1)) as string
        } catch {
          top.key = text.slice(start + 1, i)
        }
        top.expectKey = false
      }
    } else if (c === OPEN_OBJECT) frames.push({ array: false, index: 0, key: "", expectKey: true })
    else if (c === OPEN_ARRAY) frames.push({ array: true, index: 0, key: "", expectKey: false })
    else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) frames.pop()
    else if (c === COMMA && top !== undefined) {
      if (top.array) top.index++
      else top.expectKey = true
    } else if (c === COLON && top !== undefined) top.expectKey = false
  }
  return frames.map((f) => `/${f.array ? f.index : step(f.key)}`).join("")
}

const SHOWN_POINTER = 60

/** A pointer short enough for a message (the rejection's field keeps it whole). */
const shorten = (pointer: string): string =>
  pointer.length > SHOWN_POINTER ? `${pointer.slice(0, SHOWN_POINTER)}…` : pointer === "" ? "the top" : pointer

/** Where the text breaks a limit, found in one pass that allocates nothing unless a number looks suspect. */
const scan = (text: string, maxDepth: number): JsonReading | undefined => {
  const n = text.length
  let depth = 0
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) {
      i++
      while (i < n) {
        const d = text.charCodeAt(i)
        if (d === BACKSLASH) i += 2
        else if (d === QUOTE) break
        else i++
      }
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > maxDepth) {
        const field = pointerAt(text, i)
        return refused("too_deep", field,
          `objects and arrays are nested more than ${maxDepth} levels deep (the limit) at ${shorten(field)}`)
      }
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      const start = i
      let digits = 0
      let plain = true
      while (i + 1 < n) {
        const d = text.charCodeAt(i + 1)
        if (d >= ZERO && d <= NINE) digits++
        else if (d === 46 || d === 101 || d === 69 || d === 43 || d === MINUS) plain = false
        else break
        i++
      }
      if (c !== MINUS) digits++
      if (plain && digits <= SAFE_DIGITS) continue
      const problem = numberProblem(text.slice(start, i + 1))
      if (problem !== undefined) {
        const field = pointerAt(text, start)
        return refused(problem.rule, field, `${field === "" ? "the document" : shorten(field)}: ${problem.why}`)
      }
    }
  }
  return undefined
}

/**
 * Parses JSON text that came from outside. Never throws: text that is not JSON, is too large, too deep, or holds a
 * number that would not be stored as written is refused with a rejection naming the rule and the JSON pointer.
 */
export const readJson = (text: string, limits: JsonLimits = {}): JsonReading => {
  const maxBytes = limits.maxBytes ?? JSON_LIMITS.maxBytes
  // Each UTF-16 unit is 1 to 3 UTF-8 bytes: measure exactly only when the length alone does not decide.
  const bytes = text.length > maxBytes ? text.length : text.length * 3 > maxBytes ? Buffer.byteLength(text) : 0
  if (bytes > maxBytes) {
    return refused("too_large", "", `the document is ${bytes} bytes; the limit is ${maxBytes} bytes`)
  }
  const problem = scan(text, limits.maxDepth ?? JSON_LIMITS.maxDepth)
  let value: unknown
  try {
    // JSON.parse itself is iterative, so deep text is safe here; text that is not JSON at all is told so first
    // (readers fall back to NDJSON on not_json).
    value = JSON.parse(text)
  } catch (e) {
    return refused("not_json", "", `not valid JSON (${(e as Error).message})`)
  }
  return problem ?? { _tag: "json", value }
}
