// Flags that take a time (--since, --until, --from, --to, --expires) are read by their domains' parsers, which go
// through Date.parse: it reads a day up to the 31st of any month and rolls it over into the next (2024-02-30 becomes
// 1 March). A mistyped date must be refused, never moved, so each such flag checks its date part first, by the rule
// the API's parameters share (warehouse/calendar.ts).
import { InvalidArgumentError } from "commander"
import { dateOffTheCalendar, notADay } from "../warehouse/calendar.ts"

/** Commander's parser for a time flag: the value unchanged, or an error when its date is not a day on the calendar. */
export const dayOnTheCalendar = (value: string): string => {
  const off = dateOffTheCalendar(value)
  if (off !== undefined) throw new InvalidArgumentError(off.message)
  return value
}

/**
 * Commander's parser for a flag that takes a day and nothing else (--as-of, --from, --to of cdp relations): YYYY-MM-DD
 * (UTC), a day on the calendar the warehouse holds, as the /v1/relations routes require of the same parameters.
 */
export const dayOnly = (value: string): string => {
  const reason = notADay(value)
  if (reason !== undefined) throw new InvalidArgumentError(reason)
  return value
}
