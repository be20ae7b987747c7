// Which events mean what for relational intelligence (CDP_RELATIONS), with Segment-spec defaults: orders are
// "Order Completed" (Segment's e-commerce spec), mail engagement uses the e-mail spec's names (as the SendGrid
// connector lands them), and mail the company sent is not the customer's own activity.
import { Data } from "effect"

export interface RelationsConfig {
  /** Track events that are orders; their amount is `total`, else `revenue`, else `value`. */
  readonly orderEvents: ReadonlyArray<string>
  /** Channels where a day with the person's own activity is a visit. */
  readonly visitChannels: ReadonlyArray<string>
  /** Names (type or track event) on a visit channel that are not a visit: bookkeeping, not a person browsing. */
  readonly notVisits: ReadonlyArray<string>
  /** Names the company did, not the person (mail sent, outbound calls): they never count as the person's activity. */
  readonly sentEvents: ReadonlyArray<string>
  readonly mailDelivered: ReadonlyArray<string>
  readonly mailOpened: ReadonlyArray<string>
  readonly mailClicked: ReadonlyArray<string>
  readonly mailUnsubscribed: ReadonlyArray<string>
  /** Channels of service contacts (the sentiment's channel): what "a negative contact, resolved or not" reads. */
  readonly serviceChannels: ReadonlyArray<string>
  /** Channels where what a person says is public. */
  readonly publicChannels: ReadonlyArray<string>
  /** A profile first active within this many days of the date is `new`. */
  readonly newDays: number
  /** The recent window compared with the one before it ("visits down 60% against the previous 30 days"). */
  readonly windowDays: number
  /** Half-life of the exponentially weighted sentiment level. */
  readonly sentimentHalfLifeDays: number
}

export const DEFAULT_RELATIONS_CONFIG: RelationsConfig = {
  orderEvents: ["Order Completed"],
  visitChannels: ["web"],
  notVisits: ["identify", "alias", "group", "Segment Consent Preference Updated", "Signed Out"],
  sentEvents: ["Email Processed", "Email Delivered", "Email Deferred", "Email Bounced", "Email Dropped", "Call:outbound"],
  mailDelivered: ["Email Delivered"],
  mailOpened: ["Email Opened"],
  mailClicked: ["Email Link Clicked"],
  mailUnsubscribed: ["Email Unsubscribed", "Email Group Unsubscribed", "Email Marked as Spam"],
  serviceChannels: ["chat", "call", "email"],
  publicChannels: ["social"],
  newDays: 21,
  windowDays: 30,
  sentimentHalfLifeDays: 30,
}

export class RelationsConfigInvalid extends Data.TaggedError("RelationsConfigInvalid")<{ readonly message: string }> {}

const LISTS = [
  "orderEvents", "visitChannels", "notVisits", "sentEvents", "mailDelivered", "mailOpened", "mailClicked", "mailUnsubscribed",
  "serviceChannels", "publicChannels",
] as const
const DAYS = ["newDays", "windowDays", "sentimentHalfLifeDays"] as const
/** Ten years: longer windows reach before every date the warehouse holds (1900 on) from today's. */
const MAX_DAYS = 3650

/** CDP_RELATIONS: a JSON object overriding any of the defaults, e.g. {"orderEvents":["Order Completed","Purchase"]}. */
export const parseRelationsConfig = (text: string): RelationsConfig => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    throw new Error(`not JSON: ${(e as Error).message}`)
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("not a JSON object")
  const out: Record<string, unknown> = { ...DEFAULT_RELATIONS_CONFIG }
  for (const [key, v] of Object.entries(value)) {
    if ((LISTS as ReadonlyArray<string>).includes(key)) {
      if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw new Error(`${key} must be an array of strings`)
      out[key] = v
    } else if ((DAYS as ReadonlyArray<string>).includes(key)) {
      if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > MAX_DAYS) throw new Error(`${key} must be a whole number of days from 1 to ${MAX_DAYS}`)
      out[key] = v
    } else {
      throw new Error(`unknown key "${key}" (keys: ${[...LISTS, ...DAYS].join(", ")})`)
    }
  }
  return out as unknown as RelationsConfig
}
