// The canonical message every source becomes, and the dead letter every rejection becomes.
// One module for these shapes, so connectors, stages and sinks cannot drift apart.

/** The channels a message lands on: a fixed set (filters and audience conditions refuse any other name). */
export const CHANNELS = ["web", "email", "chat", "call", "social"] as const

export type Channel = (typeof CHANNELS)[number]

/** Why `name` is not a channel, in words naming the channels there are; undefined when it is one. */
export const notAChannel = (name: string): string | undefined =>
  (CHANNELS as ReadonlyArray<string>).includes(name) ? undefined : `${JSON.stringify(name.slice(0, 60))} is not a channel: one of ${CHANNELS.join(", ")}`

export type EventType = "track" | "identify" | "page" | "screen" | "group" | "alias"

export type JsonObject = { readonly [key: string]: unknown }

/** Kinds of identifier a message can carry about the person behind it (raw, as sent; identity normalises them). */
export type IdentifierKind = "user_id" | "anonymous_id" | "email" | "phone" | "twitter_id" | "twitter_handle" | "social_handle"

export interface Identifier {
  readonly kind: IdentifierKind
  readonly value: string
  /**
   * How far the value can be trusted when the source knows better than its default (identity's configuration):
   * a phone written in a mail signature is "unverified" although the mail's From is not.
   */
  readonly trust?: "verified" | "stated" | "unverified"
}

/** A validated, normalised message on its way to the warehouse. */
export interface CanonicalEvent {
  readonly tenant: string
  /** The item's own id (Segment messageId, SendGrid sg_event_id, ...); unique per tenant. */
  readonly messageId: string
  readonly type: EventType
  /** Track event name, or page/screen name; empty for other types. */
  readonly event: string
  readonly anonymousId: string
  readonly userId: string
  readonly groupId: string
  readonly previousId: string
  readonly channel: Channel
  /** The connector that produced it: "segment", "sendgrid", ... */
  readonly source: string
  /** ISO-8601 UTC, corrected for client clock skew. */
  readonly timestamp: string
  readonly originalTimestamp: string | null
  readonly sentAt: string | null
  readonly receivedAt: string
  readonly properties: JsonObject
  readonly traits: JsonObject
  readonly context: JsonObject
  /** Fields of the original message that have no column of their own (integrations, page name, ...). */
  readonly extra: JsonObject
  /**
   * Identifiers beyond userId/anonymousId that the message states about its sender (an e-mail address, a phone
   * number, a social handle), as sent. Identity resolution links profiles through them.
   */
  readonly identifiers: ReadonlyArray<Identifier>
  /**
   * What the customer wrote (mail body without quotes and signature, chat lines, tweet, call notes), for
   * sentiment. Free text is personal data: it lands in the `texts` table only, keyed by message id.
   */
  readonly text: string
  /** Filled by identity resolution; until then the provisional id (userId, else anonymousId). */
  readonly profileId: string
  /**
   * Stored messages (ids) that resolving this message moved into its profile (a merge), set by the identity stage for
   * the stages after it (consent decides them by the ledger of the profile they joined); never stored.
   */
  readonly movedIn?: ReadonlyArray<string>
  /** Filled by the sentiment stage for messages that carry text. */
  readonly sentiment?: SentimentRecord
  /**
   * The item as received, enough for its connector to parse it again alone (`RAW_PARSERS`): what the archive keeps
   * and replay re-runs. Set by every connector; no warehouse column reads it.
   */
  readonly raw?: RawItem | undefined
}

/** One item's raw text as received, and what the receiving end knew besides it. */
export interface RawItem {
  /** The item's own text: a Segment message's JSON, an RFC 5322 mail, a CSV header line and row, ... */
  readonly body: string
  /**
   * Facts from outside the item that its parsing depends on (Segment: clock-skew correction and batch-level sentAt,
   * context, integrations; calls: the column mapping; e-mail: `encoding: "base64"` for bytes that are not UTF-8).
   */
  readonly meta?: JsonObject | undefined
  /** The body is valid JSON text, so the archive can embed it instead of escaping it into a string. */
  readonly json?: boolean | undefined
}

/** One line of an archive batch: an accepted item's raw text, with what is needed to parse it again. */
export interface ArchiveRecord {
  readonly tenant: string
  readonly source: string
  readonly messageId: string
  readonly receivedAt: string
  readonly body: string
  readonly meta?: JsonObject | undefined
  /** See RawItem.json: written as `"json": <body>` rather than `"body": "<escaped body>"`. */
  readonly json?: boolean | undefined
  /**
   * The person key of the message it is the raw text of (ingest/bus.ts personKeyOf): the Kafka bus encrypts the
   * record under that person's data key, so an erasure shreds it. Not written to the archive.
   */
  readonly person?: string | undefined
}

/** How a text scored, as the sentiment stage hands it to the sink (no text in it). */
export interface SentimentRecord {
  readonly status: "scored" | "unscored"
  readonly score: number
  readonly label: "positive" | "neutral" | "negative"
  readonly model: string
  readonly language: string
  /** Why a text was left unscored (not English, nothing left after hygiene), and how much of a long text was scored. */
  readonly reason: string
  readonly evidence: ReadonlyArray<{ readonly token: string; readonly rule: string; readonly weight: number }>
  readonly aspects: ReadonlyArray<{ readonly aspect: string; readonly score: number; readonly label: string }>
}

/** How received bytes are kept as text: as the UTF-8 they are, or as base64 of bytes that are not (utf8.ts). */
export type KeptEncoding = "utf8" | "base64"

/** Why a message was refused, in words a sender understands. */
export interface Rejection {
  /** Machine-readable rule, e.g. "missing_identity", "bad_timestamp". */
  readonly rule: string
  /** JSON pointer of the offending field ("" for the whole message). */
  readonly field: string
  readonly message: string
}

/** A refused input, kept whole so it can be inspected and re-driven. */
export interface DeadLetter {
  readonly tenant: string
  readonly source: string
  readonly receivedAt: string
  /** The sender's id for the message when it had a usable one. */
  readonly messageId: string
  readonly rejection: Rejection
  /** The raw payload as received: its text, or base64 of its bytes when they are not UTF-8 (`payloadEncoding`). */
  readonly payload: string
  /** "base64" when the payload is base64 of bytes that are not UTF-8 (utf8.ts keptAsText); absent for text. */
  readonly payloadEncoding?: KeptEncoding | undefined
  /** The person key of the message when known (ingest/bus.ts personKeyOf): which data key the Kafka bus encrypts it under. */
  readonly person?: string | undefined
}

/**
 * Sets a field the sender named as the object's own. Assigning one named "__proto__" would set the object's
 * prototype instead, and the field would be lost from what is stored.
 */
export const putField = (o: Record<string, unknown>, key: string, value: unknown): void => {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true })
}
