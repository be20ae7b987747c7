// The registry of file sources `cdp ingest --source NAME` understands, and of the webhook parsers the HTTP collector
// routes bodies to. Each turns input into canonical events and dead letters; the rest of the pipeline is the same for
// all of them.
import type { CanonicalEvent, DeadLetter, JsonObject } from "../message.ts"
import { parseCallsPost, parseCallsRaw, readCallsFile } from "./calls.ts"
import { parseChatWebhook, readChatFile } from "./chat.ts"
import { parseEmailRaw, parseEmailWebhook, readEmailPath } from "./email.ts"
import { readSegmentFile } from "./segment-file.ts"
import { parseSegmentRaw } from "./segment-raw.ts"
import type { ConsentPacing } from "./segment.ts"
import { parseSendgridWebhook, readSendgridFile } from "./sendgrid.ts"
import { parseSocialWebhook, readSocialFile } from "./social.ts"
import { parseTwitterRaw, readTwitterFile } from "./twitter.ts"
import { rawTimeContext } from "./items.ts"
import { timeZoneRefusal } from "../schemas.ts"

export type ImportedItem =
  | { readonly _tag: "event"; readonly event: CanonicalEvent }
  | { readonly _tag: "deadLetter"; readonly deadLetter: DeadLetter }

/** The events and the dead letters among items, for Pipeline.submit. */
export const splitItems = (items: ReadonlyArray<ImportedItem>) => ({
  events: items.flatMap((i) => (i._tag === "event" ? [i.event] : [])),
  deadLetters: items.flatMap((i) => (i._tag === "deadLetter" ? [i.deadLetter] : [])),
})

export interface ImportContext {
  readonly tenant: string
  readonly receivedAtMs: number
  /** Called with the number of bytes consumed so far, for progress bars. */
  readonly onProgress?: (bytesRead: number) => void
  /**
   * Source-specific settings from configuration, checked by the source (calls: `columns`, `defaultCountry`,
   * `fallbackCountries`, see CallsOptions). Sources without settings ignore it.
   */
  readonly options?: Record<string, unknown>
  /**
   * Webhooks: the most items one post may carry. A source stops reading once it has read more (it then returns
   * maxItems + 1 items and the caller refuses the post whole), so an oversized post costs no more than the limit's
   * worth of items. Unset (files, replay): read everything.
   */
  readonly maxItems?: number
  /**
   * Segment: the consent decoding budget the messages of one run (a file, a replay, a retry of dead letters) are read
   * under, one budget after another with a turn of the event loop between (see ConsentPacing). Unset: each call
   * reads under a pacing of its own.
   */
  readonly consentPacing?: ConsentPacing
}

export interface FileSource {
  readonly name: string
  readonly description: string
  readonly read: (path: string, ctx: ImportContext) => AsyncIterable<ImportedItem>
}

export const FILE_SOURCES: ReadonlyMap<string, FileSource> = new Map([
  ["segment", { name: "segment", description: "NDJSON of Segment messages, one per line", read: readSegmentFile }],
  ["sendgrid", { name: "sendgrid", description: "SendGrid Event Webhook events (a JSON array, as posted)", read: readSendgridFile }],
  ["email", { name: "email", description: "inbound mail: an .eml file, an mbox, or a folder of them", read: readEmailPath }],
  ["chat", { name: "chat", description: "NDJSON of live-chat transcripts, one conversation per line", read: readChatFile }],
  ["calls", { name: "calls", description: "contact-centre call export (CSV with a header line)", read: readCallsFile }],
  ["social", { name: "social", description: "NDJSON of posts and reviews from other networks, one per line", read: readSocialFile }],
  ["twitter", { name: "twitter", description: "X API v2 recent-search pages (a JSON array of pages, as tweets.json)", read: readTwitterFile }],
])

export interface WebhookSource {
  readonly name: string
  /** Parses one request body; never throws on what the body holds (bad input becomes dead letters). */
  readonly parse: (body: string, ctx: ImportContext) => ReadonlyArray<ImportedItem> | Promise<ReadonlyArray<ImportedItem>>
  /** Set by sources whose bodies are bytes in a charset of their own (mail): they get the bytes as received. */
  readonly parseBytes?: (body: Buffer, ctx: ImportContext) => ReadonlyArray<ImportedItem> | Promise<ReadonlyArray<ImportedItem>>
}

/** Bodies the HTTP collector accepts per source (Segment has its own Tracking API and is not here). */
export const WEBHOOK_SOURCES: ReadonlyMap<string, WebhookSource> = new Map([
  ["sendgrid", { name: "sendgrid", parse: parseSendgridWebhook }],
  ["email", { name: "email", parse: parseEmailWebhook, parseBytes: parseEmailWebhook }],
  ["chat", { name: "chat", parse: parseChatWebhook }],
  ["calls", { name: "calls", parse: parseCallsPost }],
  ["social", { name: "social", parse: parseSocialWebhook }],
])

/**
 * Parses one item's raw text again (`CanonicalEvent.raw`: body and meta, or a dead letter's payload with no meta),
 * for archive replay and dead-letter retry. The same raw, tenant and receivedAt give the same messageId and event.
 * Never throws on what the body holds (bad input becomes dead letters).
 */
export type RawParser = (
  body: string,
  meta: JsonObject | undefined,
  ctx: ImportContext,
) => ReadonlyArray<ImportedItem> | Promise<ReadonlyArray<ImportedItem>>

/** The raw parser of every source, by the name events carry in `source`. */
export const RAW_PARSERS: ReadonlyMap<string, RawParser> = new Map<string, RawParser>([
  ["segment", parseSegmentRaw],
  // A SendGrid event's JSON, a chat transcript or live message, a social post's line: each is a valid webhook body.
  ["sendgrid", (body, _meta, ctx) => parseSendgridWebhook(body, ctx)],
  ["email", parseEmailRaw],
  // Their times are read in the zone the meta recorded (rawTimeContext), not in whatever is configured now.
  ["chat", (body, meta, ctx) => parseChatWebhook(body, rawTimeContext(ctx, meta))],
  ["calls", parseCallsRaw],
  ["social", (body, meta, ctx) => parseSocialWebhook(body, rawTimeContext(ctx, meta))],
  ["twitter", parseTwitterRaw],
])

/** Why one source's options cannot be used by every source alike (the `timeZone` every source takes), else undefined. */
export const oneSourceOptionsRefusal = (options: Readonly<Record<string, unknown>>): string | undefined => {
  if (options["timeZone"] === undefined) return undefined
  const refusal = timeZoneRefusal(options["timeZone"])
  return refusal === undefined ? undefined : `timeZone: ${refusal}`
}

/**
 * Why CDP_SOURCE_OPTIONS (a JSON object per source) cannot be used, naming the source, else undefined: a name that is
 * no source's (its settings, a time zone say, would be ignored without a word) or a source's options that are wrong
 * for every source. Options only one source reads (calls' columns) are checked by it.
 */
export const sourceOptionsRefusal = (all: Readonly<Record<string, unknown>>): string | undefined => {
  const names = [...new Set([...FILE_SOURCES.keys(), ...WEBHOOK_SOURCES.keys()])]
  for (const [name, options] of Object.entries(all)) {
    if (!names.includes(name)) return `${JSON.stringify(name.slice(0, 60))} is not a source (sources: ${names.join(", ")})`
    if (options === null || typeof options !== "object" || Array.isArray(options)) return `${name} must be a JSON object of its settings`
    const refusal = oneSourceOptionsRefusal(options as Record<string, unknown>)
    if (refusal !== undefined) return `${name}.${refusal}`
  }
  return undefined
}
