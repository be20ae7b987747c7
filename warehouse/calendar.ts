// Whether a date given as a time bound (since, until, --from, --to, expires) is a day on the calendar. The parsers go
// through Date.parse, which reads a day up to the 31st of any month and rolls it over into the next (2024-02-30
// becomes 1 March), and reads year 0000, which the calendar has not (1 BC is followed by AD 1). A mistyped date must
// be refused, never moved. One rule for the CLI's flags and the API's parameters; it lives beside the warehouse's
// other shared rules (tenant.ts) because every domain that reads a time bound already imports warehouse/.
import { Data } from "effect"

export class DateNotOnCalendar extends Data.TaggedError("DateNotOnCalendar")<{ readonly date: string }> {
  override get message() {
    return `${this.date} is not a day on the calendar`
  }
}

// The date a value starts with (a date, or a date-time); relative forms such as 7d or 24h have none.
const LEADING_DATE = /^\s*(\d{4})-(\d{2})-(\d{2})(?=$|[T\s])/

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate()

/**
 * The refusal of a value whose date Date.parse would silently move (day 29-31 past its month's end) or that names year
 * 0000; undefined otherwise. Month 13 or day 32 never parse, so each parser names them in its own words.
 */
export const dateOffTheCalendar = (value: string): DateNotOnCalendar | undefined => {
  const m = LEADING_DATE.exec(value)
  if (m === null) return undefined
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])]
  if (month < 1 || month > 12 || day < 1 || day > 31) return undefined
  return year === 0 || day > daysIn(year, month) ? new DateNotOnCalendar({ date: `${m[1]}-${m[2]}-${m[3]}` }) : undefined
}

/** Why a period's end (its value given) is refused when it is not after its start: "2024-09-01 must be after since (2024-09-10)". */
export const endNotAfterStart = (endText: string, start: { readonly name: string; readonly text: string }): string =>
  `${endText.trim()} must be after ${start.name} (${start.text.trim()})`
