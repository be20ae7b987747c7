// Whether a date given as a time bound (since, until, --from, --to, expires) is a day on the calendar that the
// warehouse can hold. The parsers go through Date.parse, which reads a day up to the 31st of any month and rolls it
// over into the next (2024-02-30 becomes 1 March), and reads year 0000, which the calendar has not (1 BC is followed
// by AD 1). Every time the warehouse keeps is a DateTime64 column, which holds 1900-01-01 to 2299-12-31 (ClickHouse
// wraps or clamps what lies outside, so a bound of 1850-01-01 would silently select something else). A mistyped or
// unstorable date must be refused, never moved. One rule for the CLI's flags and the API's parameters; it lives beside
// the warehouse's other shared rules (tenant.ts) because every domain that reads a time bound already imports warehouse/.
import { Data } from "effect"

/** The first and last days a DateTime64 column holds (every time column of the warehouse is one). */
export const EARLIEST_DAY = "1900-01-01"
export const LATEST_DAY = "2299-12-31"
/** The earliest and latest instants (ms) a DateTime64 column holds. */
export const EARLIEST_MS = Date.UTC(1900, 0, 1)
export const LATEST_MS = Date.UTC(2299, 11, 31, 23, 59, 59, 999)

/** A date that is not a day on the calendar, or (with `reason`) one the warehouse cannot hold. */
export class DateNotOnCalendar extends Data.TaggedError("DateNotOnCalendar")<{ readonly date: string; readonly reason?: string }> {
  override get message() {
    return `${this.date} ${this.reason ?? "is not a day on the calendar"}`
  }
}

// The date a value starts with (a date, or a date-time); relative forms such as 7d or 24h have none.
const LEADING_DATE = /^\s*(\d{4})-(\d{2})-(\d{2})(?=$|[T\s])/
// A date-time that names its offset, so its instant is known whatever the process's time zone.
const WITH_OFFSET = /^\s*\d{4}-\d{2}-\d{2}[T\s]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})\s*$/i

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate()

const BEFORE = `is before ${EARLIEST_DAY}, the earliest day the warehouse holds (dates run from ${EARLIEST_DAY} to ${LATEST_DAY})`
const AFTER = `is after ${LATEST_DAY}, the latest day the warehouse holds (dates run from ${EARLIEST_DAY} to ${LATEST_DAY})`

/**
 * The refusal of a value whose date Date.parse would silently move (day 29-31 past its month's end), that names year
 * 0000, or that lies outside what the warehouse holds (before 1900-01-01 or after 2299-12-31, a date-time with an
 * offset by its instant); undefined otherwise. Month 13 or day 32 never parse, so each parser names them in its own
 * words.
 */
export const dateOffTheCalendar = (value: string): DateNotOnCalendar | undefined => {
  const m = LEADING_DATE.exec(value)
  if (m === null) return undefined
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])]
  if (month < 1 || month > 12 || day < 1 || day > 31) return undefined
  const date = `${m[1]}-${m[2]}-${m[3]}`
  if (year === 0 || day > daysIn(year, month)) return new DateNotOnCalendar({ date })
  if (date < EARLIEST_DAY) return new DateNotOnCalendar({ date, reason: BEFORE })
  if (date > LATEST_DAY) return new DateNotOnCalendar({ date, reason: AFTER })
  // 1900-01-01T00:00:00+01:00 is still 1899 in UTC.
  const ms = WITH_OFFSET.test(value) ? Date.parse(value.trim()) : Number.NaN
  if (ms < EARLIEST_MS) return new DateNotOnCalendar({ date: value.trim(), reason: BEFORE })
  if (ms > LATEST_MS) return new DateNotOnCalendar({ date: value.trim(), reason: AFTER })
  return undefined
}

/**
 * Why a value is not a day and nothing else (YYYY-MM-DD, on the calendar the warehouse holds: --as-of, --from, --to of
 * cdp relations and the same parameters of /v1/relations), or undefined when it is one.
 */
export const notADay = (value: string): string | undefined => {
  const off = dateOffTheCalendar(value)
  if (off !== undefined) return off.message
  // The pattern alone lets month 13 or day 32 through: Date.parse refuses them.
  if (/^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(`${value}T00:00:00Z`))) return undefined
  return `must be a date YYYY-MM-DD, e.g. 2024-11-01 (got "${value.slice(0, 40)}")`
}

/** Why a period's end (its value given) is refused when it is not after its start: "2024-09-01 must be after since (2024-09-10)". */
export const endNotAfterStart = (endText: string, start: { readonly name: string; readonly text: string }): string =>
  `${endText.trim()} must be after ${start.name} (${start.text.trim()})`
