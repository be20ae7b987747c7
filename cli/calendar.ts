// Flags that take a time (--since, --until, --from, --to, --expires) are read by their domains' parsers, which go
// through Date.parse: it reads a day up to the 31st of any month and rolls it over into the next (2024-02-30 becomes
// 1 March). A mistyped date must be refused, never moved, so each such flag checks its date part here first.
import { InvalidArgumentError } from "commander"

// The date a value starts with (a date, or a date-time); relative forms such as 7d or 24h have none.
const LEADING_DATE = /^\s*(\d{4})-(\d{2})-(\d{2})(?=$|[T\s])/

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate()

/** Commander's parser for a time flag: the value unchanged, or an error when its date is not a day on the calendar. */
export const dayOnTheCalendar = (value: string): string => {
  const m = LEADING_DATE.exec(value)
  if (m === null) return value
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])]
  // Month 13 or day 32 never parse: the flag's own parser names them. Only what Date.parse would move is caught here.
  if (month < 1 || month > 12 || day < 1 || day > 31) return value
  if (day > daysIn(year, month)) {
    throw new InvalidArgumentError(`${m[1]}-${m[2]}-${m[3]} is not a day on the calendar`)
  }
  return value
}
