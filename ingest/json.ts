// The one reader of JSON text that arrives from outside (HTTP bodies, file lines and documents, archived and
// dead-lettered raw items). It refuses, naming the rule and the field (JSON pointer), what the rest of the pipeline
// cannot hold faithfully: nesting deep enough to overflow a recursive step downstream (ajv, JSON.stringify, the
// warehouse's JSON parser), numbers JSON.parse would silently change (1e400 becomes Infinity, then null;
// 9007199254740993 becomes 9007199254740992; 1.00000000000000000001 becomes 1), strings holding half of a UTF-16
// surrogate pair (the warehouse refuses the escape JSON.stringify writes for it), and an object naming one key twice
// (JSON.parse keeps the last, other readers the first: two parsers would disagree about what was sent), and an object
// of so many names that building it would hold the thread for seconds (told before parsing).
import type { Rejection } from "./message.ts"
import { shownText } from "./schemas.ts"

export const JSON_LIMITS = {
  /** Objects and arrays inside one another; ClickHouse's own JSON input stops at 1000. */
  maxDepth: 100,
  /**
   * Past this depth a document read in parts (readJsonParts: a batch's messages) is refused whole, without being
   * parsed. V8's JSON.parse is iterative (checked to 1,000,000 levels on Node 24) and a refused part is kept as the
   * text received, so this is no limit of theirs: it keeps a body that no sender makes by mistake from being built into
   * a value that deep at all, where any recursive code it might reach overflows (JSON.stringify, between 1,000 and
   * 5,000 levels).
   */
  maxDocumentDepth: 10_000,
  /** One JSON document (an NDJSON line, a body, a file read whole). */
  maxBytes: 64 * 1024 * 1024,
  /**
   * Names in one object. V8 builds an object of many names in time that grows faster than their count: one of 850,000
   * names (a 10 MB webhook body) took JSON.parse 3-3.5 s, on the collector's one thread, against 0.1 s for the same
   * bytes as 40,000 objects of 21 names. No sender's event, trait set or transcript holds 10,000 names.
   */
  maxKeys: 10_000,
} as const

export type JsonReading =
  | { readonly _tag: "json"; readonly value: unknown }
  | { readonly _tag: "refused"; readonly rejection: Rejection }

/** What is wrong at one place of a document: `field` is its JSON pointer in the document, `why` says it plainly. */
export interface JsonProblem {
  readonly rule: string
  readonly field: string
  readonly why: string
  /** The text of the part it lies in, as received (readJsonParts): what a dead letter keeps of a refused part. */
  readonly partText?: string
}

/** A document that could be read, with the problems of the parts that cannot be kept (at most one per part). */
export type JsonPartsReading =
  | { readonly _tag: "json"; readonly value: unknown; readonly problems: ReadonlyArray<JsonProblem> }
  | { readonly _tag: "refused"; readonly rejection: Rejection }

export interface JsonLimits {
  readonly maxDepth?: number
  readonly maxBytes?: number
}

const SHOWN_POINTER = 60

/** A pointer short enough for a message (the rejection's field keeps it whole). */
const shorten = (pointer: string, whole: string): string => pointer === "" ? whole : shownText(pointer, SHOWN_POINTER)

/**
 * The rejection for a problem. `field` re-roots it (a batch message's pointer without its `/batch/N`), `whole` names
 * the root in the message ("the document", "the message").
 */
export const problemRejection = (problem: JsonProblem, field = problem.field, whole = "the document"): Rejection =>
  ({ rule: problem.rule, field, message: `${shorten(field, whole)}: ${problem.why}` })

const refused = (rejection: Rejection): { readonly _tag: "refused"; readonly rejection: Rejection } =>
  ({ _tag: "refused", rejection })

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
const LETTER_U = 117
const HIGH_SURROGATE = 0xd800
const LOW_SURROGATE = 0xdc00
const PAST_SURROGATES = 0xe000

/** More significant digits than this may not survive as a double: such a number is looked at closely. */
const SAFE_DIGITS = 15

/** A number literal or a name as a refusal quotes it. */
const shown = (text: string) => shownText(text, 40)

/** A decimal literal as sign, significant digits and the power of ten of its point (0.DIGITS × 10^point). */
const decimal = (s: string) => {
  const neg = s.charCodeAt(0) === MINUS
  let e = s.indexOf("e")
  if (e < 0) e = s.indexOf("E")
  if (e < 0) e = s.length
  const exponent = e < s.length ? Number(s.slice(e + 1)) : 0
  const mantissa = s.slice(neg ? 1 : 0, e)
  const dot = mantissa.indexOf(".")
  const digits = dot < 0 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1)
  let lo = 0
  while (lo < digits.length && digits.charCodeAt(lo) === ZERO) lo++
  let hi = digits.length
  while (hi > lo && digits.charCodeAt(hi - 1) === ZERO) hi--
  return { neg, digits: digits.slice(lo, hi), point: exponent + (dot < 0 ? mantissa.length : dot) - lo }
}

/** Whether two decimal literals denote the same number, in time linear in their length (no BigInt of 1e999999). */
const sameDecimal = (a: string, b: string): boolean => {
  const x = decimal(a)
  const y = decimal(b)
  return x.digits === y.digits && (x.digits === "" || (x.neg === y.neg && x.point === y.point))
}

/**
 * Why a number literal cannot be kept as JSON.parse would read it; undefined when it can. A number is kept when the
 * shortest decimal of its double (what JSON.stringify writes downstream) is the same number as the literal.
 */
const numberProblem = (literal: string): { rule: string; why: string } | undefined => {
  const value = Number(literal)
  if (!Number.isFinite(value)) {
    return { rule: "number_out_of_range", why: `${shown(literal)} is beyond the largest number that can be stored (about 1.8e308)` }
  }
  const shortest = String(value)
  if (shortest === literal || sameDecimal(literal, shortest)) return undefined
  if (value === 0) {
    return { rule: "number_out_of_range", why: `${shown(literal)} is too small to be stored (it would become 0)` }
  }
  if (!/[.eE]/.test(literal)) {
    return {
      rule: "integer_too_large",
      why: `${shown(literal)} is beyond 2^53 and would be stored as ${shortest}; send it as a string to keep every digit`,
    }
  }
  return {
    rule: "number_too_precise",
    why: `${shown(literal)} has more digits than a number keeps and would be stored as ${shortest}; send it as a string to keep every digit`,
  }
}

/** The code unit of the four hex digits at `at`, or -1. */
const hex4 = (text: string, at: number): number => {
  let unit = 0
  for (let k = at; k < at + 4; k++) {
    const h = text.charCodeAt(k)
    const digit = h >= 48 && h <= 57 ? h - 48 : h >= 97 && h <= 102 ? h - 87 : h >= 65 && h <= 70 ? h - 55 : -1
    if (digit < 0) return -1
    unit = unit * 16 + digit
  }
  return unit
}

const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/** A JSON pointer step: "~" and "/" escaped as RFC 6901 says; half a surrogate pair (in a refused key) as U+FFFD. */
const step = (key: string): string => key.replace(LONE_SURROGATE, "\uFFFD").replace(/~/g, "~0").replace(/\//g, "~1")

/**
 * The JSON pointers of the values that start at `targets` (ascending) in a text already scanned, in one pass (only
 * reached on refusal, so it may allocate).
 */
const pointersAt = (text: string, targets: ReadonlyArray<number>): Array<string> => {
  const pointers: Array<string> = []
  const frames: Array<{ array: boolean; index: number; key: string; expectKey: boolean }> = []
  for (let i = 0; pointers.length < targets.length; i++) {
    while (pointers.length < targets.length && targets[pointers.length]! <= i) {
      pointers.push(frames.map((f) => `/${f.array ? f.index : step(f.key)}`).join(""))
    }
    if (i >= text.length) break
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
  return pointers
}

const tooManyKeysWhy = `an object holds more than ${JSON_LIMITS.maxKeys} names (the limit): send such data as an array, or in several messages`

const tooDeepWhy = (maxDepth: number) => `objects and arrays are nested more than ${maxDepth} levels deep (the limit)`

/** Why half a surrogate pair (`unit`) in a string or a name cannot be kept, as the edge's reader and parsedProblem say it. */
const loneSurrogateWhy = (unit: number, isKey: boolean) =>
  `${isKey ? "the name" : "a string"} holds \\u${unit.toString(16).padStart(4, "0")}, half of a UTF-16 surrogate pair without its other half ` +
  "(as when a text is cut in the middle of an emoji): it is not a character and cannot be stored"

/**
 * The edge's rules, as far as they can still be told, for a value another reader already parsed (twitter-api-v2 parses
 * X's answers itself): too_deep for an object or array nested more than `maxDepth` levels inside `value` (the value
 * itself is level 1), lone_surrogate for a string or a name holding half a surrogate pair; with the pointer of the
 * first, undefined when it keeps to them. Walked with a stack of its own, so a value 1,000,000 levels deep does not
 * overflow. `levelsAbove` counts the levels of the document that will hold it, which the words do not count against it.
 * (A key named twice or a number JSON.parse changed can no longer be seen: only text tells them.)
 */
export const parsedProblem = (value: unknown, maxDepth: number, levelsAbove = 0): JsonProblem | undefined => {
  if (typeof value === "string") return value.isWellFormed() ? undefined : problemAt(value, maxDepth, levelsAbove)
  // First without keeping the way down (the common case, on every tweet), then again for the pointer when past it.
  const values: Array<object> = value !== null && typeof value === "object" ? [value] : []
  const depths: Array<number> = [1]
  let found = false
  while (values.length > 0 && !found) {
    const v = values.pop()!
    const depth = depths.pop()!
    if (depth > maxDepth) found = true
    for (const key in v) {
      const child = (v as Record<string, unknown>)[key]
      if (!key.isWellFormed() || (typeof child === "string" && !child.isWellFormed())) found = true
      if (child === null || typeof child !== "object") continue
      values.push(child)
      depths.push(depth + 1)
    }
  }
  return found ? problemAt(value, maxDepth, levelsAbove) : undefined
}

const FIRST_LONE_SURROGATE = new RegExp(LONE_SURROGATE.source)

const problemAt = (value: unknown, maxDepth: number, levelsAbove: number): JsonProblem | undefined => {
  interface Step { readonly value: unknown; readonly depth: number; readonly parent?: Step; readonly key?: string }
  const pointer = (at: Step, last?: string) => {
    const keys: Array<string> = last === undefined ? [] : [last]
    for (let s: Step | undefined = at; s?.key !== undefined; s = s.parent) keys.push(s.key)
    return keys.reverse().map((k) => `/${step(k)}`).join("")
  }
  const lone = (text: string) => text.charCodeAt(text.search(FIRST_LONE_SURROGATE))
  const stack: Array<Step> = [{ value, depth: 1 }]
  for (let at = stack.pop(); at !== undefined; at = stack.pop()) {
    if (typeof at.value === "string" && !at.value.isWellFormed()) return { rule: "lone_surrogate", field: pointer(at), why: loneSurrogateWhy(lone(at.value), false) }
    if (at.value === null || typeof at.value !== "object") continue
    if (at.depth > maxDepth) return { rule: "too_deep", field: pointer(at), why: tooDeepWhy(maxDepth + levelsAbove) }
    for (const key in at.value) {
      if (!key.isWellFormed()) return { rule: "lone_surrogate", field: pointer(at, key), why: loneSurrogateWhy(lone(key), true) }
      stack.push({ value: (at.value as Record<string, unknown>)[key], depth: at.depth + 1, parent: at, key })
    }
  }
  return undefined
}

/**
 * The edge's depth rule alone (too_deep, with its pointer), for text of which nothing else may be told (a bus record:
 * its problems are logged, so none may quote a value, as the number rules do); undefined when the text keeps to it.
 * Counted as readJsonParts counts: from each value at `partDepth`. Only depth is looked at, so text that is not JSON
 * (random bytes hold brackets) is JSON.parse's to tell first.
 */
export const nestingProblem = (text: string, partDepth = 0, maxDepth: number = JSON_LIMITS.maxDepth): JsonProblem | undefined => {
  const deepest = maxDepth + partDepth
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) {
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i)
        if (d === BACKSLASH) i++
        else if (d === QUOTE) break
      }
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > deepest) return { rule: "too_deep", field: pointersAt(text, [i])[0]!, why: tooDeepWhy(maxDepth) }
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) depth--
  }
  return undefined
}

/** A problem where it was found: `at` is where its value starts (for a key: where the member's value starts). */
interface Found {
  readonly rule: string
  readonly why: string
  readonly at: number
  /** Inside a part (readJsonParts), else the document's own problem. */
  readonly inPart: boolean
  /** Where that part's text starts and ends. */
  partFrom?: number
  partTo?: number
  /** The part is a member of an object ("name": value), not an item of an array. */
  inObject?: boolean
}

interface Scan {
  readonly found: ReadonlyArray<Found>
  /** Set when the text is nested past `hardDepth`: the scan stopped there. */
  readonly tooDeepToRead?: Found
}

/**
 * Finds where the text breaks a limit, in one pass that allocates little (each object's names, to find one named
 * twice) unless something looks suspect.
 * With `partDepth` 0, stops at the first problem. Otherwise the values inside the containers at depth `partDepth`
 * (1 is the top object or array) are parts: a problem inside a part is noted (the first one per part) and the scan
 * goes on; a problem outside every part stops it.
 */
const scan = (text: string, maxDepth: number, partDepth: number, hardDepth: number, depthInDocument = false): Scan => {
  const found: Array<Found> = []
  const n = text.length
  let depth = 0
  /** The names met so far in the object open at each depth (one set per depth, emptied as an object opens there). */
  const namesAt: Array<Set<string> | undefined> = []
  /** Where the object open at each depth starts (a too_many_keys refusal points at it). */
  const objectAt: Array<number> = []
  let part = 0
  let partFrom = 0
  let partsInObject = false
  let lastPart = -1
  /** The problem of the current part, until its end is known. */
  let open: Found | undefined
  const partEnds = (at: number) => {
    if (open !== undefined) open.partTo = at
    open = undefined
  }
  // A part's nesting is counted from the part, as if it had come alone (unless counted in the document).
  const deepest = depthInDocument ? maxDepth : maxDepth + partDepth
  /** Notes a problem; true when the scan must stop. */
  const note = (rule: string, why: string, at: number): boolean => {
    if (partDepth > 0 && depth >= partDepth) {
      if (part !== lastPart) {
        open = { rule, why, at, inPart: true, partFrom, inObject: partsInObject }
        found.push(open)
      }
      lastPart = part
      return false
    }
    found.push({ rule, why, at, inPart: false })
    return true
  }
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i)
    if (c === QUOTE) {
      const start = i
      // Half a surrogate pair, escaped or not, is found by pairing each code unit with the one before it.
      let high = -1
      let lone = -1
      let escaped = false
      i++
      while (i < n) {
        let d = text.charCodeAt(i)
        const at = i
        if (d === BACKSLASH) {
          escaped = true
          if (text.charCodeAt(i + 1) === LETTER_U) {
            d = hex4(text, i + 2)
            i += 6
          } else {
            d = 0
            i += 2
          }
        } else if (d === QUOTE) break
        else i++
        if (high >= 0 && (d < LOW_SURROGATE || d >= PAST_SURROGATES)) {
          if (lone < 0) lone = high
          high = -1
        }
        if (d >= HIGH_SURROGATE && d < PAST_SURROGATES) {
          if (d < LOW_SURROGATE) high = at
          else if (high >= 0) high = -1
          else if (lone < 0) lone = at
        }
      }
      if (high >= 0 && lone < 0) lone = high
      let next = i + 1
      while (next < n && isSpace(text.charCodeAt(next))) next++
      const isKey = text.charCodeAt(next) === COLON
      if (lone >= 0) {
        const unit = text.charCodeAt(lone) === BACKSLASH ? hex4(text, lone + 2) : text.charCodeAt(lone)
        if (note("lone_surrogate", loneSurrogateWhy(unit, isKey), isKey ? next + 1 : start)) return { found }
      } else if (isKey && !(depth >= partDepth && partDepth > 0 && part === lastPart)) {
        // (A part already refused is not looked at further: one problem per part is told.)
        // A name is compared as JSON.parse reads it: "\u0075serId" is "userId".
        let name = text.slice(start + 1, i)
        if (escaped) {
          try {
            name = JSON.parse(text.slice(start, i + 1)) as string
          } catch {
            // Not JSON: the parse that follows the scan says so.
          }
        }
        const names = namesAt[depth] ??= new Set()
        if (names.has(name)) {
          const why = `the name ${JSON.stringify(shown(name))} appears more than once in ` +
            "one object: readers differ on which value counts (the first or the last), so send each name once"
          if (note("duplicate_key", why, next + 1)) return { found }
        } else if (names.add(name).size === JSON_LIMITS.maxKeys + 1) {
          // readJson tells this before scanning; in a document read in parts it is one part's problem.
          if (note("too_many_keys", tooManyKeysWhy, objectAt[depth]!)) return { found }
        }
      }
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth === partDepth) {
        part++
        partFrom = i + 1
        partsInObject = c === OPEN_OBJECT
      }
      if (c === OPEN_OBJECT) {
        namesAt[depth]?.clear()
        objectAt[depth] = i
      }
      if (depth > hardDepth) {
        return {
          found,
          tooDeepToRead: { rule: "too_deep", at: i, inPart: false, why: `objects and arrays are nested more than ${hardDepth} levels deep: too deep to read at all` },
        }
      }
      if (depth === deepest + 1 && note("too_deep", tooDeepWhy(maxDepth), i)) {
        return { found }
      }
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth-- === partDepth) partEnds(i)
    } else if (c === COMMA) {
      if (depth === partDepth) {
        partEnds(i)
        part++
        partFrom = i + 1
      }
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
      if (problem !== undefined && note(problem.rule, problem.why, start)) return { found }
    }
  }
  return { found }
}

const tooLarge = (text: string, maxBytes: number): Rejection | undefined => {
  // Each UTF-16 unit is 1 to 3 UTF-8 bytes: measure exactly only when the length alone does not decide.
  const bytes = text.length > maxBytes ? text.length : text.length * 3 > maxBytes ? Buffer.byteLength(text) : 0
  return bytes > maxBytes
    ? { rule: "too_large", field: "", message: `the document is ${bytes} bytes; the limit is ${maxBytes} bytes` }
    : undefined
}

type Parsed = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly rejection: Rejection }

const parse = (text: string): Parsed => {
  try {
    // JSON.parse itself is iterative, so deep text is safe here.
    return { ok: true, value: JSON.parse(text) }
  } catch (e) {
    return { ok: false, rejection: { rule: "not_json", field: "", message: `not valid JSON (${(e as Error).message})` } }
  }
}

const withPointers = (text: string, found: ReadonlyArray<Found>): Array<JsonProblem> => {
  // pointersAt reads its targets in order: a problem of a whole object (too_many_keys) starts before those found in it.
  const targets = [...new Set(found.map((f) => f.at))].sort((a, b) => a - b)
  const pointers = new Map(pointersAt(text, targets).map((pointer, k) => [targets[k]!, pointer]))
  return found.map((f) => ({
    rule: f.rule, field: pointers.get(f.at)!, why: f.why,
    ...(f.partFrom === undefined ? {} : { partText: text.slice(f.partFrom, f.partTo ?? text.length).trim() }),
  }))
}

/**
 * Where the first object holding more than `maxKeys` names starts (-1 when none does), and whether the text holds more
 * than one value at its top (NDJSON, or not JSON), in one pass that allocates nothing: names are counted by the commas
 * between them, so nothing is parsed.
 */
const crowdedObject = (text: string, maxKeys: number): { readonly at: number; readonly severalValues: boolean } => {
  const members: Array<number> = []
  const objectAt: Array<number> = []
  let depth = 0
  let values = 0
  let inValue = false
  let at = -1
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (depth === 0 && !isSpace(c) && !inValue) {
      if (++values > 1) return { at, severalValues: true }
      inValue = true
    }
    if (c === QUOTE) {
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i)
        if (d === BACKSLASH) i++
        else if (d === QUOTE) break
      }
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      depth++
      members[depth] = c === OPEN_OBJECT ? 1 : -1
      objectAt[depth] = i
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (--depth === 0) inValue = false
    } else if (c === COMMA && members[depth]! > 0 && ++members[depth]! > maxKeys && at < 0) at = objectAt[depth]!
    else if (depth === 0 && isSpace(c)) inValue = false
  }
  return { at, severalValues: false }
}

/**
 * Parses JSON text that came from outside. Never throws: text that is not JSON, is too large, too deep, or holds a
 * value that would not be stored as written is refused with a rejection naming the rule and the JSON pointer.
 * Text that is not JSON at all is told so first (readers fall back to NDJSON on not_json).
 */
export const readJson = (text: string, limits: JsonLimits = {}): JsonReading => {
  const large = tooLarge(text, limits.maxBytes ?? JSON_LIMITS.maxBytes)
  if (large !== undefined) return refused(large)
  // Told before anything is parsed: parsing such an object is what holds the thread.
  const crowded = crowdedObject(text, JSON_LIMITS.maxKeys)
  if (crowded.at >= 0) {
    // Several values are no JSON document: readers then read it as NDJSON, each line on its own.
    if (crowded.severalValues) return refused({ rule: "not_json", field: "", message: "not valid JSON (it holds more than one value)" })
    return refused(problemRejection({
      rule: "too_many_keys", field: pointersAt(text, [crowded.at])[0]!, why: tooManyKeysWhy,
    }))
  }
  const { found } = scan(text, limits.maxDepth ?? JSON_LIMITS.maxDepth, 0, Number.POSITIVE_INFINITY)
  const parsed = parse(text)
  if (!parsed.ok) return refused(parsed.rejection)
  return found.length > 0 ? refused(problemRejection(withPointers(text, found)[0]!)) : { _tag: "json", value: parsed.value }
}

/** The name of the member whose text starts at `from` ("name": value), as written (quotes and escapes kept). */
const memberName = (text: string, from: number): string => {
  const start = text.indexOf('"', from)
  let end = start + 1
  while (end < text.length && text[end] !== '"') end += text[end] === "\\" ? 2 : 1
  return text.slice(start, end + 1)
}

/**
 * The text with each refused part as `null` (a member of an object keeps its name: "name":null), so that it is never
 * built (an object of too many names holds the thread while JSON.parse builds it); what it was is in its problem's partText. Everything else is parsed as received, so text
 * that is not JSON outside the refused parts is still not_json.
 */
const withRefusedAsNull = (text: string, found: ReadonlyArray<Found>): string => {
  const pieces: Array<string> = []
  let from = 0
  for (const f of found) {
    if (!f.inPart || f.partFrom === undefined) continue
    pieces.push(text.slice(from, f.partFrom), f.inObject === true ? `${memberName(text, f.partFrom)}:null` : "null")
    from = f.partTo ?? text.length
  }
  return pieces.length === 0 ? text : pieces.join("") + text.slice(from)
}

/**
 * Parses a document made of parts (the values inside the containers at `partDepth`: 2 for the messages of
 * `{"batch":[...]}`), so that a bad part can be refused alone: its problems are returned with their pointers (one per
 * part) instead of refusing the document. The document is refused whole when it is not JSON, too large, nested past
 * JSON_LIMITS.maxDocumentDepth, or has a problem outside every part. A part's nesting is counted from the part, unless
 * `depthInDocument` (a part that will be kept inside the same levels, as X's tweets are in their raw item's page).
 */
export const readJsonParts = (
  text: string,
  partDepth: number,
  limits: JsonLimits = {},
  options: { readonly refusedAsNull?: boolean; readonly depthInDocument?: boolean } = {},
): JsonPartsReading => {
  const large = tooLarge(text, limits.maxBytes ?? JSON_LIMITS.maxBytes)
  if (large !== undefined) return refused(large)
  const { found, tooDeepToRead } =
    scan(text, limits.maxDepth ?? JSON_LIMITS.maxDepth, partDepth, JSON_LIMITS.maxDocumentDepth, options.depthInDocument === true)
  if (tooDeepToRead !== undefined) return refused(problemRejection(withPointers(text, [tooDeepToRead])[0]!))
  const parsed = parse(options.refusedAsNull === true ? withRefusedAsNull(text, found) : text)
  if (!parsed.ok) return refused(parsed.rejection)
  const problems = withPointers(text, found)
  const outside = problems.find((_, k) => !found[k]!.inPart)
  return outside === undefined ? { _tag: "json", value: parsed.value, problems } : refused(problemRejection(outside))
}

/**
 * A webhook body: when it is a JSON array, its items are its parts (readJsonParts), so a bad item is refused alone,
 * without being built; any other body is read whole (readJson).
 */
export const readJsonItems = (text: string): JsonPartsReading => {
  if (text.trimStart().startsWith("[")) return readJsonParts(text, 1, {}, { refusedAsNull: true })
  const read = readJson(text)
  return read._tag === "json" ? { _tag: "json", value: read.value, problems: [] } : read
}

const ITEM = /^\/(\d+)(?=\/|$)/

/** An item of a JSON array body that readJsonItems refused. */
export interface RefusedItem {
  /** The rejection, re-rooted at the item. */
  readonly rejection: Rejection
  /** The item's text as received. */
  readonly text: string
  /**
   * What can be read of it: the item with each member the reader refuses as null, so that a source can answer the item
   * with its id; undefined when the item itself is at fault (an object of too many names, say).
   */
  readonly readable: unknown
}

const readableItem = (text: string): unknown => {
  const read = readJsonParts(text, 1, {}, { refusedAsNull: true })
  return read._tag === "json" ? read.value : undefined
}

/** The items of a JSON array body that readJsonItems refused, by index. */
export const refusedItems = (problems: ReadonlyArray<JsonProblem>): ReadonlyMap<number, RefusedItem> => {
  const refused = new Map<number, RefusedItem>()
  for (const problem of problems) {
    const at = ITEM.exec(problem.field)
    if (at === null) continue
    const field = problem.field.slice(at[0].length)
    refused.set(Number(at[1]), {
      rejection: problemRejection(problem, field, "the item"),
      text: problem.partText ?? "",
      // An item at fault itself ("": an object of too many names) is not read again, as it was not built.
      readable: field === "" || problem.partText === undefined ? undefined : readableItem(problem.partText),
    })
  }
  return refused
}
