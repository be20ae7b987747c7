// Inbound customer mail (RFC 5322): one .eml file, a folder of them, or an mboxrd archive, each message parsed by
// mailparser (MIME, transfer encodings, charsets, HTML-only bodies) into one "Email Received" event.
// The body is kept as the customer sent it, quotes and signature included: sentiment/hygiene.ts cleans text in one
// place for every channel.
import { createHash } from "node:crypto"
import { createReadStream } from "node:fs"
import { open, readdir, readFile, stat } from "node:fs/promises"
import { join } from "node:path"
import type { AddressObject, EmailAddress, HeaderLines } from "mailparser"
import { htmlTextOffLoop, INLINE_HTML_CHARS } from "./email-html.ts"
import { signatureIdentifiers } from "./email-signature.ts"
import type { JsonObject, RawItem } from "../message.ts"
import type { ImportContext, ImportedItem } from "./index.ts"
import { JSON_LIMITS } from "../json.ts"
import { inWarehouseRange, isoDateTimeOutOfRange, shownText, WAREHOUSE_RANGE_WORDS } from "../schemas.ts"
import { boundedLines, type ItemMaker, itemMaker, rawTimeContext } from "./items.ts"
import { repairedMailText } from "./email-charset.ts"
import { keptAsText, keptBytes } from "../utf8.ts"

const PARSER_OPTIONS = {
  skipImageLinks: true,
  keepCidLinks: true,
  skipTextToHtml: true,
  skipTextLinks: true,
  // A larger HTML part is read in a worker thread (email-html.ts): html-to-text may take seconds on it.
  maxHtmlLengthToParse: INLINE_HTML_CHARS,
}

/** What mailparser's MIME reader (mailsplit, at its defaults) says past its limits, in a sender's words. */
const MIME_LIMITS: ReadonlyMap<string, string> = new Map([
  ["Max allowed child nodes exceeded", "the message has more than 1,000 MIME parts, more than are read; send fewer (as attachments of one archive, say)"],
  ["Max header size for a MIME node exceeded", "the header section of the message or of one of its parts is over 1 MB, more than is read"],
])

const MBOX_SEPARATOR = "From "
const MBOXRD_ESCAPED = /^>+From /
const ANGLE_BRACKETS = /^\s*<|>\s*$/g
const FOLDED_LINE = /\r?\n[ \t]+/g
const MAIL_FILE = /\.(?:eml|mbox)$/i

/** True when the bytes are only spaces, tabs and line breaks (stops at the first other byte). */
const isBlank = (raw: Buffer): boolean => {
  for (const byte of raw) {
    if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) return false
  }
  return true
}

/** The id as the truth files and replies' References use it: the Message-ID without angle brackets. */
const bareId = (id: string): string => id.replace(ANGLE_BRACKETS, "").trim()

const addressesOf = (field: AddressObject | ReadonlyArray<AddressObject> | undefined): Array<EmailAddress> => {
  if (field === undefined) return []
  const out: Array<EmailAddress> = []
  const visit = (a: EmailAddress): void => {
    if (a.group !== undefined) a.group.forEach(visit)
    else out.push(a)
  }
  for (const object of Array.isArray(field) ? field : [field as AddressObject]) object.value.forEach(visit)
  return out
}

/** A header's raw value (unfolded), since mailparser replaces an unparseable Date with the current time. */
const rawHeader = (lines: HeaderLines, key: string): ReadonlyArray<string> =>
  lines.filter((l) => l.key === key).map((l) => l.line.slice(l.line.indexOf(":") + 1).replace(FOLDED_LINE, " ").trim())

// RFC 5322 3.3 date-time, obsolete forms (4.3) included: optional weekday, one- or two-digit day, any case, optional
// seconds, a numeric zone or one of the obsolete zone names; comments are taken out before. Neither mailparser nor
// Date.parse gives the year as written (both read year 0000 as 2000 and take years no calendar the warehouse has holds).
const MAIL_DATE =
  /^(?:(?:mon|tue|wed|thu|fri|sat|sun)\s*,\s*)?(\d{1,2})\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\s+(\d{2,})\s+(\d{2})\s*:\s*(\d{2})(?:\s*:\s*(\d{2}))?\s*([+-]\d{4}|ut|gmt|[ecmp][sd]t|[a-ik-z])$/i
const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
/** Hours east of UTC of RFC 5322's obsolete zone names; a military letter means nothing sure (-0000, read as UTC). */
const ZONE_HOURS: Readonly<Record<string, number>> = { ut: 0, gmt: 0, est: -5, edt: -4, cst: -6, cdt: -5, mst: -7, mdt: -6, pst: -8, pdt: -7 }
const COMMENT = /\([^()]*\)/g
const daysIn = (year: number, month: number): number => new Date(Date.UTC(2000 + (year % 400), month, 0)).getUTCDate()

/** Epoch ms of an RFC 5322 date-time with its year as written (4.3's rule for two- and three-digit years), else NaN. */
const readMailDate = (value: string): number => {
  let text = value
  for (let before = ""; before !== text;) [before, text] = [text, text.replace(COMMENT, " ")]
  const m = MAIL_DATE.exec(text.trim())
  if (m === null) return Number.NaN
  const [day, month, written, hour, minute, second] = [Number(m[1]), MONTHS.indexOf(m[2]!.toLowerCase()) + 1, m[3]!, Number(m[4]), Number(m[5]), Number(m[6] ?? 0)]
  const year = written.length === 2 ? Number(written) + (Number(written) < 50 ? 2000 : 1900) : written.length === 3 ? Number(written) + 1900 : Number(written)
  if (day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 60) return Number.NaN
  const zone = m[7]!.toLowerCase()
  const offsetMinutes = zone.startsWith("+") || zone.startsWith("-")
    ? (zone.startsWith("-") ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3, 5)))
    : (ZONE_HOURS[zone] ?? 0) * 60
  if (Number(zone.slice(3, 5)) > 59) return Number.NaN
  // Far outside the warehouse's years the instant is not needed, only that it is outside (Date.UTC would lose it).
  if (year < 1800 || year > 2400) return year < 1800 ? -Infinity : Infinity
  return Date.UTC(year, month - 1, day, hour, minute, second) - offsetMinutes * 60_000
}

/**
 * A header's time: RFC 5322, or ISO 8601 as some senders write it (`readIso`: one without a zone in the source's time
 * zone); NaN when neither, ±Infinity when far outside.
 */
const headerTimeMs = (value: string, readIso: (text: string) => number): number => {
  const ms = readMailDate(value)
  if (!Number.isNaN(ms)) return ms
  if (isoDateTimeOutOfRange(value)) return -Infinity
  return readIso(value)
}

/** `written`: the header's value when it was read as ISO 8601 (which may lack a zone; RFC 5322 dates never do). */
type MessageTime = { readonly ms: number; readonly written?: string } | { readonly refused: string }

const isoWritten = (value: string): { readonly written?: string } => (Number.isNaN(readMailDate(value)) ? { written: value } : {})

/**
 * The message's own time: its Date header, else the time our mail server stamped on it (the topmost Received
 * header, after its last ";"), else NaN. A Date header that cannot be read with its year as written, or that lies
 * outside what the warehouse stores, is refused rather than dated otherwise (year 0000 was read as 2000).
 */
const messageTime = (lines: HeaderLines, readIso: (text: string) => number): MessageTime => {
  const date = rawHeader(lines, "date")[0]
  if (date !== undefined && date !== "") {
    const ms = headerTimeMs(date, readIso)
    const shown = JSON.stringify(shownText(date))
    if (Number.isNaN(ms)) {
      return { refused: `the Date: header ${shown} is not an RFC 5322 date-time such as "Tue, 17 Sep 2024 11:58:24 -0500" (a day on the calendar, with its zone); it is refused rather than dated otherwise` }
    }
    if (!inWarehouseRange(ms)) {
      return { refused: `the Date: header ${shown} lies outside the range the warehouse stores (${WAREHOUSE_RANGE_WORDS}); it is refused rather than moved to another year` }
    }
    return { ms, ...isoWritten(date) }
  }
  const received = rawHeader(lines, "received")[0]
  const stamped = received?.slice(received.lastIndexOf(";") + 1).trim()
  const ms = stamped === undefined ? Number.NaN : headerTimeMs(stamped, readIso)
  return inWarehouseRange(ms) ? { ms, ...isoWritten(stamped!) } : { ms: Number.NaN }
}

/**
 * The longest text a mail may land with, in characters: a body far past any mail (20 MB in a .eml cdp ingest takes up
 * to 64 MB) landed as one event. A reply quoting a long thread is the long case, and each reply adds only its own words
 * to it (a few hundred to a few thousand characters), so 1,000,000 holds hundreds of them; past it the mail is refused
 * too_long, kept whole as a dead letter.
 */
const MAX_TEXT_CHARS = 1_000_000
/** The longest line RFC 5322 allows: a Message-ID (the item's id) is far shorter, and a longer one is no mail's. */
const MAX_MESSAGE_ID_CHARS = 998

/**
 * Parses one raw message into an event, or a dead letter naming `where` (the file, or the message in an mbox).
 * Never rejects.
 */
export const parseEmailMessage = async (raw: Buffer, where: string, maker: ItemMaker): Promise<ImportedItem> => {
  const refuse = (rule: string, field: string, message: string, messageId = ""): ImportedItem =>
    maker.deadLetter(raw, { rule, field, message: `${where}: ${message}` }, messageId)
  if (isBlank(raw)) return refuse("empty_message", "", "the message is empty")
  let mail
  try {
    // Loaded on the first message (about a tenth of a second): most commands never parse mail.
    const { simpleParser } = await import("mailparser")
    mail = await simpleParser(raw, PARSER_OPTIONS)
  } catch (error) {
    return refuse("unparseable", "", MIME_LIMITS.get((error as Error).message) ?? `cannot parse the message (${(error as Error).message})`)
  }
  if (!mail.headerLines.some((l) => l.key !== "")) {
    return refuse("not_email", "", "not an RFC 5322 message: no header fields (From:, Date:, ...) found")
  }
  const headerId = mail.messageId === undefined ? "" : bareId(mail.messageId)
  if (headerId.length > MAX_MESSAGE_ID_CHARS) {
    return refuse("too_long", "/headers/message-id", `the Message-ID: header is longer than ${MAX_MESSAGE_ID_CHARS} characters`)
  }
  const sender = addressesOf(mail.from).find((a) => a.address !== undefined && a.address !== "")
  if (sender === undefined) {
    return refuse("missing_sender", "/headers/from", "the From: header has no e-mail address", headerId)
  }
  const repaired = await repairedMailText(raw, mail.text ?? "", typeof mail.html === "string" || mail.attachments.length > 0)
  let text = repaired.text
  const readFromHtml = mail.textConversionError !== undefined && typeof mail.html === "string" && mail.html.length > INLINE_HTML_CHARS
  if (readFromHtml) {
    const read = await htmlTextOffLoop(raw, PARSER_OPTIONS)
    if ("refused" in read) return refuse("unparseable", "", read.refused, headerId)
    text = read.text
  }
  const properties: Record<string, unknown> = {
    subject: mail.subject ?? "",
    to: addressesOf(mail.to).flatMap((a) => (a.address === undefined || a.address === "" ? [] : [a.address])),
    references: (mail.references === undefined ? [] : Array.isArray(mail.references) ? mail.references : [mail.references]).map(bareId),
    has_attachments: mail.attachments.length > 0,
  }
  if (mail.inReplyTo !== undefined && mail.inReplyTo !== "") properties["in_reply_to"] = bareId(mail.inReplyTo)
  // Not silent: the text was not in the charset its part declared (read as Windows-1252, or left with U+FFFD), or the
  // multipart message had no parts and its body is the text.
  if (repaired.decodedAs !== undefined) properties["text_decoded_as"] = repaired.decodedAs
  if (repaired.invalid === true) properties["text_charset_invalid"] = true
  if (repaired.boundaryMissing === true) properties["mime_boundary_missing"] = true
  let messageId = headerId
  if (messageId === "") {
    // The same raw message always gets the same id, so a re-import still lands once.
    messageId = `cdp-mail-${createHash("sha256").update(raw).digest("hex").slice(0, 32)}`
    properties["message_id_derived"] = true
  }
  if (text.length > MAX_TEXT_CHARS) {
    // The HTML read inline is at most INLINE_HTML_CHARS long, and so is its text: past the bound, the text came from
    // the text part, or from a large HTML part read off the loop.
    const [field, name] = readFromHtml ? ["/body/html", "the text of body/html"] : ["/body/text", "body/text"]
    return refuse("too_long", field, `${name} is longer than ${MAX_TEXT_CHARS} characters`, messageId)
  }
  const time = messageTime(mail.headerLines, maker.time)
  if ("refused" in time) return refuse("bad_timestamp", "/headers/date", time.refused, messageId)
  const timeMs = time.ms
  if (Number.isNaN(timeMs)) properties["date_missing"] = true
  return maker.event({
    messageId,
    event: "Email Received",
    timestampMs: Number.isNaN(timeMs) ? maker.receivedAtMs : timeMs,
    hasOwnTime: !Number.isNaN(timeMs),
    ...(time.written === undefined ? {} : { writtenTime: time.written }),
    properties: properties as JsonObject,
    traits: sender.name.trim() === "" ? undefined : { name: sender.name.trim() },
    identifiers: [{ kind: "email", value: sender.address! }, ...signatureIdentifiers(text)],
    text,
    raw: rawItemOf(raw),
  })
}

const BASE64: JsonObject = Object.freeze({ encoding: "base64" })

/**
 * The whole message as received. Mail is bytes in whatever charset the sender chose: UTF-8 (and ASCII) is kept as
 * text; anything else as base64 (keptAsText), so every byte, and the id derived from them, survives the round trip.
 */
const rawItemOf = (raw: Buffer): RawItem => {
  const kept = keptAsText(raw)
  return kept.encoding === "base64" ? { body: kept.text, meta: BASE64 } : { body: kept.text }
}

/** One archived or dead-lettered message (`rawItemOf`'s body and meta), parsed again. */
export const parseEmailRaw = async (
  body: string,
  meta: JsonObject | undefined,
  ctx: ImportContext,
): Promise<ReadonlyArray<ImportedItem>> => {
  const raw = keptBytes(body, meta?.["encoding"])
  return [await parseEmailMessage(raw, "message", itemMaker(rawTimeContext(ctx, meta), "email", "email"))]
}

/** One message cut from an mbox: its bytes and the line its `From ` separator is on. */
interface MboxMessage {
  readonly raw: Buffer
  readonly line: number
  readonly index: number
  /** The message's size when it is larger than JSON_LIMITS.maxBytes: `raw` is then empty (its lines were not kept). */
  readonly tooLarge?: number
}

/**
 * A message larger than cdp ingest takes one item (JSON_LIMITS.maxBytes, 64 MB; mail services refuse far smaller ones,
 * 25-150 MB with attachments) is refused, not read: a 1 GB .eml was read whole (3.6 GB of memory) and failed with V8's
 * own message.
 */
const tooLargeLetter = (maker: ItemMaker, where: string, bytes: number): ImportedItem =>
  maker.deadLetter("", { rule: "too_large", field: "", message: `${where}: the message is ${bytes} bytes; at most ${JSON_LIMITS.maxBytes} are read` })

/**
 * Cuts an mboxrd archive into messages, one line at a time. Lines are latin1 strings, so every byte survives the
 * trip (the charset is the message's business, decoded later by mailparser). `>From ` lines lose one `>`.
 */
const mboxSplitter = () => {
  let lines: Array<string> | undefined
  let bytes = 0
  let startLine = 0
  let lineNumber = 0
  let count = 0
  const finish = (): MboxMessage | undefined => {
    if (lines === undefined) return undefined
    // The blank line before the next separator belongs to the archive, not the message.
    if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop()
    const message = bytes > JSON_LIMITS.maxBytes
      ? { raw: Buffer.alloc(0), line: startLine, index: ++count, tooLarge: bytes }
      : { raw: Buffer.from(lines.join("\n"), "latin1"), line: startLine, index: ++count }
    lines = undefined
    return message
  }
  return {
    push: (line: string): MboxMessage | undefined => {
      lineNumber++
      if (line.startsWith(MBOX_SEPARATOR)) {
        const done = finish()
        lines = []
        bytes = 0
        startLine = lineNumber
        return done
      }
      // Text before the first separator is not a message; a file only reaches here when it starts with one.
      if (lines === undefined) return undefined
      bytes += line.length + 1
      // Past the limit the message's lines are only counted, not kept.
      if (bytes > JSON_LIMITS.maxBytes) lines.length = 0
      else lines.push(MBOXRD_ESCAPED.test(line) ? line.slice(1) : line)
      return undefined
    },
    end: finish,
  }
}

const mboxWhere = (name: string, m: MboxMessage): string => `${name} message ${m.index} (line ${m.line})`

const LINE_BREAK = /\r?\n/

/**
 * A webhook body: one raw RFC 5322 message (what an inbound-mail service posts), or an mbox of several when it
 * starts with `From `.
 */
export const parseEmailWebhook = async (body: string | Buffer, ctx: ImportContext): Promise<ReadonlyArray<ImportedItem>> => {
  const maker = itemMaker(ctx, "email", "email")
  const raw = typeof body === "string" ? Buffer.from(body, "utf8") : body
  if (!raw.subarray(0, MBOX_SEPARATOR.length).equals(Buffer.from(MBOX_SEPARATOR))) {
    return [await parseEmailMessage(raw, "body", maker)]
  }
  const splitter = mboxSplitter()
  const messages: Array<MboxMessage> = []
  for (const line of raw.toString("latin1").split(LINE_BREAK)) {
    const m = splitter.push(line)
    if (m !== undefined) messages.push(m)
  }
  const last = splitter.end()
  if (last !== undefined) messages.push(last)
  return mapBounded(messages, MBOX_CONCURRENCY, (m) =>
    m.tooLarge === undefined ? parseEmailMessage(m.raw, mboxWhere("body", m), maker) : Promise.resolve(tooLargeLetter(maker, mboxWhere("body", m), m.tooLarge)))
}

/**
 * Messages of one posted mbox parsed at once: parsing all of them together held every parsed message (and
 * mailparser's working copies) in memory at the same time, 2.4 GB for a 10 MB mbox.
 */
export const MBOX_CONCURRENCY = 4

/** `f` over `items`, at most `limit` calls in flight at a time; results in the order of `items`. */
export const mapBounded = async <A, B>(items: ReadonlyArray<A>, limit: number, f: (a: A) => Promise<B>): Promise<Array<B>> => {
  const results = new Array<B>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await f(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

const startsWithMboxSeparator = async (path: string): Promise<boolean> => {
  const file = await open(path)
  try {
    const head = Buffer.alloc(MBOX_SEPARATOR.length)
    const { bytesRead } = await file.read(head, 0, head.length, 0)
    return bytesRead === head.length && head.toString("latin1") === MBOX_SEPARATOR
  } finally {
    await file.close()
  }
}

const PROGRESS_EVERY_MESSAGES = 50

/** Streams an mbox so an archive of any size needs only one message in memory. */
async function* readMbox(path: string, maker: ItemMaker, progress: (bytes: number) => void): AsyncGenerator<ImportedItem> {
  const stream = createReadStream(path)
  // A line at most as long as cdp ingest takes one (RFC 5322 allows 998 characters): readline held it whole, and one of
  // 700 MB crashed the import.
  const lines = boundedLines(stream as AsyncIterable<Buffer>, JSON_LIMITS.maxBytes, "latin1")
  const splitter = mboxSplitter()
  for await (const line of lines) {
    const m = splitter.push(line)
    if (m === undefined) continue
    yield m.tooLarge === undefined ? await parseEmailMessage(m.raw, mboxWhere(path, m), maker) : tooLargeLetter(maker, mboxWhere(path, m), m.tooLarge)
    if (m.index % PROGRESS_EVERY_MESSAGES === 0) progress(stream.bytesRead)
  }
  const last = splitter.end()
  if (last !== undefined) {
    yield last.tooLarge === undefined ? await parseEmailMessage(last.raw, mboxWhere(path, last), maker) : tooLargeLetter(maker, mboxWhere(path, last), last.tooLarge)
  }
  progress(stream.bytesRead)
}

/** One file: an mbox when it starts with `From `, else a single message. */
async function* readMailFile(path: string, maker: ItemMaker, progress: (bytes: number) => void): AsyncGenerator<ImportedItem> {
  if (await startsWithMboxSeparator(path)) {
    yield* readMbox(path, maker, progress)
    return
  }
  const { size } = await stat(path)
  if (size > JSON_LIMITS.maxBytes) {
    yield tooLargeLetter(maker, path, size)
    progress(size)
    return
  }
  const raw = await readFile(path)
  yield await parseEmailMessage(raw, path, maker)
  progress(raw.length)
}

/** Every *.eml and *.mbox file under a folder, in name order so imports are repeatable. */
const mailFilesUnder = async (dir: string): Promise<Array<string>> => {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries
    .filter((e) => e.isFile() && MAIL_FILE.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort()
}

/**
 * `path` is a .eml file, an mbox (detected by its first line, `From `), or a folder searched recursively for both.
 * A file of the folder that cannot be read or parsed becomes a dead letter naming it; the rest still import.
 */
export async function* readEmailPath(path: string, ctx: ImportContext): AsyncGenerator<ImportedItem> {
  const maker = itemMaker(ctx, "email", "email")
  if (!(await stat(path)).isDirectory()) {
    yield* readMailFile(path, maker, (bytes) => ctx.onProgress?.(bytes))
    return
  }
  let done = 0
  for (const file of await mailFilesUnder(path)) {
    let size = 0
    try {
      yield* readMailFile(file, maker, (bytes) => {
        size = bytes
        ctx.onProgress?.(done + bytes)
      })
    } catch (error) {
      yield maker.deadLetter("", { rule: "unreadable_file", field: "", message: `${file}: cannot read (${(error as Error).message})` })
    }
    done += size
  }
  ctx.onProgress?.(done)
}
