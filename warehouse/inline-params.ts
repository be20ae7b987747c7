// Query parameters written into the statement as literals, for the embedded engine. chDB runs every statement that
// has parameters through one chain for the whole process (its parameter state is not kept per connection: two at once
// on two connections clobber each other), so with parameters the warehouse's connections (the pipeline's, API reads',
// background work's) took turns: a profile read waited behind a 500 ms build of profile documents or an audience
// refresh. Without parameters statements on different connections run side by side. A value is written only where
// its literal means exactly what the engine's binding of it would; anything else keeps the parameters (and the chain).
// Longest statement written with its parameters inlined: the engine parses literals slower than it binds values (the
// statement of 20 profiles' documents, 112 kB inlined, took 374 ms against 100 ms bound), and the engine refuses
// statements over max_query_size (262,144 bytes). A longer one is bound, and takes chDB's turn.
const MAX_INLINE_BYTES = 32_000
/** What a statement may hold written in: callers that slice their lists to stay under it budget against this. */
export const INLINE_BYTES = MAX_INLINE_BYTES

const INTEGER_RANGES: Record<string, readonly [bigint, bigint]> = {
  UInt8: [0n, 255n], UInt16: [0n, 65_535n], UInt32: [0n, 4_294_967_295n], UInt64: [0n, 18_446_744_073_709_551_615n],
  Int8: [-128n, 127n], Int16: [-32_768n, 32_767n], Int32: [-2_147_483_648n, 2_147_483_647n],
  Int64: [-9_223_372_036_854_775_808n, 9_223_372_036_854_775_807n],
}

/**
 * The values in runs whose literals (quoted, escaped, with a comma) add up to at most `maxBytes` (one alone may be
 * more): lists a caller names in separate statements so that each is written in rather than bound.
 */
export const runsWrittenIn = (values: ReadonlyArray<string>, maxBytes: number): Array<Array<string>> => {
  const runs: Array<Array<string>> = []
  let run: Array<string> = []
  let size = 0
  for (const v of values) {
    const bytes = Buffer.byteLength(stringLiteral(v)) + 1
    if (run.length > 0 && size + bytes > maxBytes) {
      runs.push(run)
      run = []
      size = 0
    }
    run.push(v)
    size += bytes
  }
  if (run.length > 0) runs.push(run)
  return runs
}

/** A string as a quoted literal: backslash, quote and every control character escaped (\xHH). */
export const stringLiteral = (s: string): string => {
  let out = "'"
  let last = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x20 && c !== 0x27 && c !== 0x5c && c !== 0x7f) continue
    out += s.slice(last, i) + (c === 0x27 ? "\\'" : c === 0x5c ? "\\\\" : `\\x${c.toString(16).padStart(2, "0")}`)
    last = i + 1
  }
  return `${out}${s.slice(last)}'`
}

const integerLiteral = (value: unknown, type: string): string | undefined => {
  const range = INTEGER_RANGES[type]
  if (range === undefined) return undefined
  const n = typeof value === "bigint" ? value : typeof value === "number" && Number.isSafeInteger(value) ? BigInt(value) : undefined
  return n === undefined || n < range[0] || n > range[1] ? undefined : n.toString()
}

const onCalendar = (year: number, month: number, day: number): boolean => {
  const date = new Date(Date.UTC(year, month - 1, day))
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day
}

// A time as the warehouse writes one (warehouse/sink.ts chDateTime): read by the engine the same way bound or as
// toDateTime64's argument, within DateTime64's range (1900-2299) and on a real calendar day.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d{1,3})?$/

const dateTimeLiteral = (value: unknown): string | undefined => {
  if (typeof value !== "string") return undefined
  const m = DATE_TIME.exec(value)
  if (m === null) return undefined
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  if (year < 1900 || year > 2299 || !onCalendar(year, month, day) || hour > 23 || minute > 59 || second > 59) return undefined
  return `toDateTime64('${value}', 3, 'UTC')`
}

// A day as YYYY-MM-DD, on the calendar and within Date's range. The engine reads a day outside it or off the calendar
// (2025-02-29) as some other day, bound or not: such a value is left to the binding, as before.
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/

const dateLiteral = (value: unknown): string | undefined => {
  if (typeof value !== "string") return undefined
  const m = DAY.exec(value)
  if (m === null || value < "1970-01-01" || value > "2149-06-06" || !onCalendar(Number(m[1]), Number(m[2]), Number(m[3]))) return undefined
  return `CAST('${value}' AS Date)`
}

/**
 * A double as the text chDB binds it with, quoted: the engine reads it with the same reader as a bound value (JavaScript's
 * shortest text of a double, 1e-7 or 1e+21 included, reads back as that double; -0 is "0" both ways). A number past
 * 2^53, which chDB refuses to bind, has that text too; a bigint is its digits, as chDB binds them. NaN and Infinity: none
 * (chDB refuses them).
 */
const float64Text = (value: unknown): string | undefined => {
  if (typeof value === "bigint") return `'${value}'`
  return typeof value === "number" && Number.isFinite(value) ? `'${String(value)}'` : undefined
}

/** What `CAST(_ AS type)` turns into the value, for a number type (alone or an array's element) or String's element. */
const castOperand = (value: unknown, type: string): string | undefined => {
  if (type === "String") return typeof value === "string" ? stringLiteral(value) : undefined
  return type === "Float64" ? float64Text(value) : integerLiteral(value, type)
}

/** The literal of `value` for a parameter of `type`, or undefined where it might not mean what binding does. */
const literalOf = (value: unknown, type: string): string | undefined => {
  if (type === "String") return typeof value === "string" ? stringLiteral(value) : undefined
  if (type === "DateTime64(3,'UTC')") return dateTimeLiteral(value)
  if (type === "Date") return dateLiteral(value)
  if (type === "Bool") return typeof value === "boolean" ? `CAST(${value} AS Bool)` : undefined
  const scalar = castOperand(value, type)
  if (scalar !== undefined) return `CAST(${scalar} AS ${type})`
  const element = /^Array\((\w+)\)$/.exec(type)?.[1]
  if (element === undefined || !Array.isArray(value)) return undefined
  const items: Array<string> = []
  for (const item of value) {
    const literal = castOperand(item, element)
    if (literal === undefined) return undefined
    items.push(literal)
  }
  return `CAST([${items.join(",")}] AS ${type})`
}

const PLACEHOLDER_START = /^\{\s*[A-Za-z_]\w*\s*:/
const PLACEHOLDER = /^\{\s*([A-Za-z_]\w*)\s*:\s*(DateTime64\(\s*3\s*,\s*'UTC'\s*\)|[A-Za-z]\w*(?:\(\s*\w+\s*\))?)\s*\}/

/** Where the quoted text or comment starting at `i` ends (the index after it); `i` itself when none starts there. */
const skipQuotedOrComment = (sql: string, i: number): number => {
  const c = sql[i]
  if (c === "'" || c === "\"" || c === "`") {
    for (let j = i + 1; j < sql.length; j++) {
      if (sql[j] === "\\") j++
      else if (sql[j] === c) {
        if (sql[j + 1] === c) j++ // a doubled quote stands for itself
        else return j + 1
      }
    }
    return sql.length
  }
  if (c === "-" && sql[i + 1] === "-") {
    const end = sql.indexOf("\n", i)
    return end === -1 ? sql.length : end + 1
  }
  if (c === "/" && sql[i + 1] === "*") {
    const end = sql.indexOf("*/", i + 2)
    return end === -1 ? sql.length : end + 2
  }
  return i
}

/**
 * `sql` with each `{name:Type}` placeholder (outside quotes and comments) replaced by the literal of its parameter;
 * undefined when any placeholder's value cannot be written exactly (a type or value not handled, a missing parameter)
 * or the statement would grow past what the engine parses: the caller then binds the parameters as before.
 */
export const inlineParams = (sql: string, params: Readonly<Record<string, unknown>>): string | undefined => {
  let out = ""
  let last = 0
  for (let i = 0; i < sql.length;) {
    const skipped = skipQuotedOrComment(sql, i)
    if (skipped !== i) {
      i = skipped
      continue
    }
    if (sql[i] !== "{") {
      i++
      continue
    }
    const head = sql.slice(i, i + 200)
    const m = PLACEHOLDER.exec(head)
    if (m === null) {
      // A placeholder of a type not read here (Array(Nullable(String)), Map(...)): bound as before.
      if (PLACEHOLDER_START.test(head)) return undefined
      i++
      continue
    }
    const [whole, name, type] = m as unknown as [string, string, string]
    if (!Object.hasOwn(params, name)) return undefined
    const literal = literalOf(params[name], type.replace(/\s+/g, ""))
    if (literal === undefined) return undefined
    out += sql.slice(last, i) + literal
    i += whole.length
    last = i
  }
  const inlined = out + sql.slice(last)
  return Buffer.byteLength(inlined) > MAX_INLINE_BYTES ? undefined : inlined
}
