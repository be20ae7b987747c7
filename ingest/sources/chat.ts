// Live chat: NDJSON transcripts (one conversation a line) become one "Chat Conversation" each; the widget's live
// webhook posts single messages, which become one "Chat Message" each. Only the visitor's words are `text`.
import { createHash } from "node:crypto"
import { type Identifier, type JsonObject, putField, type RawItem, type Rejection } from "../message.ts"
import { readJsonItems } from "../json.ts"
import { compiledOnFirstUse } from "../schemas.ts"
import messageSchema from "./chat-message.schema.json" with { type: "json" }
import schema from "./chat.schema.json" with { type: "json" }
import type { ImportContext, ImportedItem } from "./index.ts"
import {
  arrayItems, explainSchemaError, type ItemMaker, itemMaker, locate, NO_IDENTIFIERS, NOT_BLANK, parseNdjsonText, readNdjsonFile, unlinkableId,
} from "./items.ts"

export interface ChatLine {
  readonly from: "visitor" | "agent"
  readonly at: string
  readonly text: string
  /** Present in exports that name the agent per message. */
  readonly agent_name?: string
}

export interface ChatTranscript {
  readonly conversation_id: string
  /** The web anonymousId of the browser the widget ran in. */
  readonly visitor_id: string
  readonly started_at: string
  readonly ended_at?: string
  readonly channel?: string
  /** Typed into the pre-chat form, unverified: kept as typed, identity judges it. */
  readonly visitor_email?: string
  readonly visitor_name?: string
  readonly csat?: number
  readonly messages: ReadonlyArray<ChatLine>
  readonly [field: string]: unknown
}

/** One message of a conversation in progress, as the live webhook posts it. */
export interface ChatLiveMessage {
  readonly message_id?: string
  readonly conversation_id: string
  readonly visitor_id: string
  readonly from: "visitor" | "agent"
  readonly at: string
  readonly text: string
  readonly agent_name?: string
  readonly visitor_email?: string
  readonly visitor_name?: string
}

const validateTranscriptSchema = compiledOnFirstUse<ChatTranscript>(schema)
const validateLiveSchema = compiledOnFirstUse<ChatLiveMessage>(messageSchema)

const RULES: Readonly<Record<string, string>> = { "/conversation_id": "missing_conversation_id" }
const PATTERNS: Readonly<Record<string, string>> = { "/conversation_id": NOT_BLANK, "/message_id": NOT_BLANK }

/** Null when the value is an acceptable transcript. */
export const validateChatTranscript = (value: unknown): Rejection | null =>
  validateTranscriptSchema(value) ? visitorIdRefusal(value as ChatTranscript) : explainSchemaError(validateTranscriptSchema.errors![0]!, value, "a chat transcript", RULES, PATTERNS)

/** Null when the value is an acceptable live message. */
export const validateChatLiveMessage = (value: unknown): Rejection | null =>
  validateLiveSchema(value) ? visitorIdRefusal(value as ChatLiveMessage) : explainSchemaError(validateLiveSchema.errors![0]!, value, "a chat message", RULES, PATTERNS)

/**
 * The visitor id is the browser's anonymousId, refused (bad_id) when identity could not link it: blank (as Segment
 * refuses a blank anonymousId), a control character, too long. The message would land tied to no one, its text out
 * of reach of a profile read and of the visitor's erasure.
 */
const visitorIdRefusal = (value: { readonly visitor_id: string }): Rejection | null =>
  value.visitor_id.trim() === ""
    ? { rule: "bad_id", field: "/visitor_id", message: "visitor_id is blank: a chat message needs its visitor's id, or it lands tied to no one" }
    : unlinkableId("visitor_id", value.visitor_id)

const MAPPED_FIELDS = new Set([
  "conversation_id", "visitor_id", "started_at", "ended_at", "channel", "visitor_email", "visitor_name", "csat", "messages",
])

const present = (value: string | undefined): value is string => value !== undefined && value.trim() !== ""

/** The pre-chat form's e-mail (as typed, even junk) and name, when the visitor typed anything. */
const visitorIdentity = (email: string | undefined, name: string | undefined) => ({
  identifiers: present(email) ? [{ kind: "email", value: email } satisfies Identifier] : NO_IDENTIFIERS,
  traits: present(name) ? { name } : undefined,
})

/** `raw` is the transcript's text as received (its line, or its JSON), for the archive. */
export const normaliseChatTranscript = (t: ChatTranscript, maker: ItemMaker, raw?: RawItem): ImportedItem => {
  const visitorLines: Array<string> = []
  const agents: Array<string> = []
  for (const m of t.messages) {
    if (m.from === "visitor") visitorLines.push(m.text)
    else if (m.agent_name !== undefined && !agents.includes(m.agent_name)) agents.push(m.agent_name)
  }
  const properties: Record<string, unknown> = {
    started_at: t.started_at,
    message_count: t.messages.length,
    agents,
  }
  if (t.ended_at !== undefined) properties["ended_at"] = t.ended_at
  if (t.csat !== undefined) properties["csat"] = t.csat
  if (t.channel !== undefined) properties["chat_channel"] = t.channel
  let extra: Record<string, unknown> | undefined
  for (const key in t) {
    if (!MAPPED_FIELDS.has(key)) putField(extra ??= {}, key, t[key])
  }
  return maker.event({
    messageId: t.conversation_id,
    event: "Chat Conversation",
    timestampMs: maker.time(t.started_at),
    writtenTime: t.started_at,
    anonymousId: t.visitor_id,
    properties: properties as JsonObject,
    extra: extra as JsonObject | undefined,
    text: visitorLines.join("\n"),
    ...visitorIdentity(t.visitor_email, t.visitor_name),
    raw,
  })
}

/**
 * The id of a live message its widget sent without one: its conversation, its time as sent and a hash of what it says
 * and who said it. Conversation and time alone made a second message of the same second a duplicate of the first,
 * dropped; the same message sent again still gets the same id and lands once.
 */
const liveMessageId = (m: ChatLiveMessage): string => {
  const said = JSON.stringify([m.from, m.visitor_id, m.agent_name ?? null, m.text])
  return `${m.conversation_id}:${m.at}:${createHash("sha256").update(said).digest("hex").slice(0, 16)}`
}

/**
 * A live message's id is its `message_id`, or liveMessageId (conversation, time, a hash of its words) when the widget
 * sends none. An agent's message still lands (it dates the conversation) but its `text` is empty. `raw` is the
 * message's JSON as received.
 */
export const normaliseChatLiveMessage = (m: ChatLiveMessage, maker: ItemMaker, raw?: RawItem): ImportedItem => {
  const properties: Record<string, unknown> = { conversation_id: m.conversation_id, from: m.from }
  if (m.agent_name !== undefined) properties["agent_name"] = m.agent_name
  return maker.event({
    messageId: m.message_id ?? liveMessageId(m),
    event: "Chat Message",
    timestampMs: maker.time(m.at),
    writtenTime: m.at,
    anonymousId: m.visitor_id,
    properties: properties as JsonObject,
    text: m.from === "visitor" ? m.text : "",
    ...visitorIdentity(m.visitor_email, m.visitor_name),
    raw,
  })
}

/** The id a refused item (a transcript or a live message) is answered with: its conversation's, when it is a string. */
const idOf = (value: unknown): string => {
  const id = (value as { conversation_id?: unknown } | null)?.conversation_id
  return typeof id === "string" ? id : ""
}

/** The raw text of an item: its line or body as received, or (inside a JSON array) its JSON, serialised on demand. */
type Payload = string | (() => string)

const payloadText = (payload: Payload): string => (typeof payload === "string" ? payload : payload())

const transcriptItem = (maker: ItemMaker, value: unknown, where: string, payload: Payload): ImportedItem => {
  const rejection = validateChatTranscript(value)
  return rejection === null
    ? normaliseChatTranscript(value as ChatTranscript, maker, { body: payloadText(payload) })
    : maker.deadLetter(payloadText(payload), locate(where, rejection), idOf(value))
}

const isTranscript = (value: unknown): boolean =>
  value !== null && typeof value === "object" && !Array.isArray(value) && "messages" in value

/** A transcript (it has `messages`) or a live message, told apart by shape. */
const anyItem = (maker: ItemMaker, value: unknown, where: string, payload: Payload): ImportedItem => {
  if (isTranscript(value)) return transcriptItem(maker, value, where, payload)
  const rejection = validateChatLiveMessage(value)
  return rejection === null
    ? normaliseChatLiveMessage(value as ChatLiveMessage, maker, { body: payloadText(payload) })
    : maker.deadLetter(payloadText(payload), locate(where, rejection), idOf(value))
}

/**
 * The chat widget's webhook body: one live message, one whole transcript, a JSON array of either, or NDJSON of
 * either (one per line). A bad item of an array or a bad line costs only itself.
 */
export const parseChatWebhook = (body: string, ctx: ImportContext): ReadonlyArray<ImportedItem> => {
  const maker = itemMaker(ctx, "chat", "chat")
  const read = readJsonItems(body)
  if (read._tag === "refused") {
    return read.rejection.rule === "not_json"
      ? parseNdjsonText(body, maker, (v, line, n) => anyItem(maker, v, `line ${n}`, line), ctx.maxItems)
      : [maker.deadLetter(body, locate("body", read.rejection))]
  }
  const value = read.value
  if (Array.isArray(value)) return arrayItems(value, read.problems, ctx, maker, "item", idOf, (v, where, payload) => anyItem(maker, v, where, payload))
  return [anyItem(maker, value, "body", body)]
}

/** An NDJSON export of transcripts, one conversation a line. */
export const readChatFile = (path: string, ctx: ImportContext): AsyncGenerator<ImportedItem> => {
  const maker = itemMaker(ctx, "chat", "chat")
  return readNdjsonFile(path, ctx, maker, (value, line, n) => transcriptItem(maker, value, `line ${n}`, line))
}
