// Finding, exporting and erasing one person's rows in any warehouse table, so that the bytes leave the disk.
//
// A row is the subject's when its message id or profile id is theirs, or when one of its text columns holds one of
// their identifiers (a "needle"). Rows are removed with a mutation (ALTER TABLE ... DELETE, waited for: runMutation),
// which writes new parts without them; the old parts then go from disk, because the personal tables keep no outdated
// part (migrations 025, 084: old_parts_lifetime = 0, merged parts fsynced instead), and this module waits until
// system.parts lists none (awaitOldPartsGone: seconds; on a server, the server's cleanup, about 10 s on 18.16). A lightweight DELETE would only mask rows, leaving their bytes.
// Detached parts cannot be read by SQL, so they are dropped. The mutation names its rows through a scratch Memory
// table (row fingerprints), never by value: mutation_N.txt files stay on disk, and must hold no identifier.
import { randomBytes } from "node:crypto"
import { Data, Duration, Effect } from "effect"
import { stringLiteral } from "./inline-params.ts"
// mailparser's own copy of libmime, whose encoded-word reading made `mail.headers`.
import { libmime } from "./mail-mime.ts"
import { keyedPermits } from "./turns.ts"
import {
  detachmentMark, detachmentsEnded, detachmentSince, type Row, Warehouse, type WarehouseQueryError, type WarehouseUnavailable, whileDetached,
} from "./warehouse.ts"
import { noteWrite } from "./writes.ts"

// Work that reads a tenant's rows and writes what it derived from them later (an audience refresh: members read,
// evaluated, changes stored) holds one of its tenant's permits; an erasure holds them all. A refresh that read the
// person before the erasure and wrote after it stored them back (their profile id, the values that matched) where
// the erasure had just deleted them, and the erasure still answered completed.
const ERASURE_PERMITS = 1024
const erasurePermits = keyedPermits(ERASURE_PERMITS)

/** Runs `effect` (a read and the writes made from it) with no erasure of `tenant` running: one waits for the other. */
export const besideErasures = (tenant: string) => erasurePermits(tenant, 1)

/** Runs an erasure of `tenant` once no work of `besideErasures(tenant)` runs, and holds off new work until it ends. */
export const aloneForErasure = (tenant: string) => erasurePermits(tenant, ERASURE_PERMITS)

// Work whose read takes long (a relations compute reads every profile's history: a minute at a million events) cannot
// hold its permit that long, or an erasure would wait as long. It reads without one, takes a permit for its writes only,
// and leaves out the profiles erased since its read began: each erasure of this process notes them here, in order.
const ERASED_KEPT = 256
let erasures = 0
/** Per tenant, its latest erasures' profiles, and the sequence number of the latest one no longer kept (0: none). */
const erasedOf = new Map<string, { dropped: number; readonly kept: Array<{ readonly seq: number; readonly profileIds: ReadonlySet<string> }> }>()

/** Notes the profiles an erasure of `tenant` removes (called under aloneForErasure, before its rows go). */
export const noteErasedProfiles = (tenant: string, profileIds: ReadonlyArray<string>) => {
  const seq = ++erasures
  let of = erasedOf.get(tenant)
  if (of === undefined) erasedOf.set(tenant, of = { dropped: 0, kept: [] })
  of.kept.push({ seq, profileIds: new Set(profileIds) })
  if (of.kept.length > ERASED_KEPT) of.dropped = of.kept.shift()!.seq
}

/** More erasures of the tenant ran since the read than this process keeps: whose profiles they removed is not known. */
export class ErasuresUntracked extends Data.TaggedError("ErasuresUntracked")<{ readonly tenant: string }> {
  override get message() {
    return `more erasures of tenant "${this.tenant}" ran since its rows were read than this process keeps track of`
  }
}

/** Work that read a tenant's rows beside its erasures (readBesideErasures), to write what it derived from them. */
export interface ReadBesideErasures {
  readonly tenant: string
  /** The profiles erased since the read (outside the hold: they may grow until `beside` runs). */
  readonly erased: Effect.Effect<ReadonlySet<string>, ErasuresUntracked>
  /** Runs `write`, given the profiles erased since the read, beside no erasure of the tenant: it leaves them out. */
  readonly beside: <A, E, R>(write: (erased: ReadonlySet<string>) => Effect.Effect<A, E, R>) => Effect.Effect<A, E | ErasuresUntracked, R>
}

/** Taken before a read of `tenant`'s rows that holds no permit: where the read stands against this process's erasures. */
export const readBesideErasures = (tenant: string): ReadBesideErasures => {
  const mark = erasures
  const erased = Effect.suspend(() => {
    const since = erasedSince(tenant, mark)
    return since === undefined ? Effect.fail(new ErasuresUntracked({ tenant })) : Effect.succeed(since)
  })
  return { tenant, erased, beside: (write) => besideErasures(tenant)(Effect.flatMap(erased, write)) }
}

/** The profiles of `tenant` erased since `mark`; undefined when more of its erasures ran since than are kept. */
export const erasedSince = (tenant: string, mark: number): ReadonlySet<string> | undefined => {
  const of = erasedOf.get(tenant)
  if (of === undefined) return new Set()
  if (of.dropped > mark) return undefined
  const out = new Set<string>()
  for (const e of of.kept) if (e.seq > mark) for (const id of e.profileIds) out.add(id)
  return out
}

/** Where a read stands against this process's erasures (readBesideErasures takes it; tests read erasedSince with it). */
export const erasureMark = (): number => erasures

export interface TableLocator {
  readonly table: string
  /** Column holding the message id, when there is one (the subject's messages are deleted whole). */
  readonly messageId?: string
  /** Columns holding profile ids (a row of the subject's profile is deleted whole). */
  readonly profileIds?: ReadonlyArray<string>
  /**
   * A row where only an identifier of the subject was found: "delete" when such a row is about that identifier
   * (identity links, dead letters), "redact" when it is someone else's row that mentions the subject (another
   * customer's text quoting an address): the identifier is cut out and the row kept.
   */
  readonly needleMatch: "delete" | "redact"
  /** Also the subject's: rows whose `column` holds a value of `fromColumn` in rows just erased from `fromTable`. */
  readonly linked?: { readonly column: string; readonly fromTable: string; readonly fromColumn: string }
  /**
   * A column holding raw mails (dead letters' payload): a row whose mail names a needle only inside a MIME encoding
   * (a base64 or quoted-printable part, an encoded-word: mailMentionRows) is found too, as one naming it in plain text
   * is (the subject's, for a "delete" table).
   */
  readonly mail?: string
}

export interface SubjectKeys {
  readonly tenant: string
  readonly messageIds: ReadonlyArray<string>
  readonly profileIds: ReadonlyArray<string>
  readonly needles: ReadonlyArray<string>
}

interface Column {
  readonly name: string
  readonly type: string
  /** In the sorting, primary or partition key: a mutation cannot update it. */
  readonly key: number
}

const quoteId = (name: string) => `\`${name.replace(/`/g, "``")}\``

/** A table's stored columns (not MATERIALIZED / ALIAS / EPHEMERAL), in order. */
export const storedColumns = Effect.fn("storedColumns")(function* (table: string) {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<Column>(
    "SELECT name, type, is_in_sorting_key OR is_in_primary_key OR is_in_partition_key AS key FROM system.columns " +
      "WHERE database = currentDatabase() AND table = {table:String} " +
      "AND default_kind NOT IN ('MATERIALIZED', 'ALIAS', 'EPHEMERAL') ORDER BY position",
    { params: { table } })
})

/*
 * A needle counts only as a whole token: not inside a longer number, address or handle. Before it there must be no
 * letter, digit or one of _ . + @ - (so "ann@x.example" is not found in "joann@x.example", nor "204817" in
 * "92048175"); after it no letter, digit, _ or @, and no . or - that goes on into one ("204817.5", "ann@x.example-old"
 * are other values; "ann@x.example." ending a sentence is the address). Case is ignored. The same rule in SQL (re2)
 * and here (JavaScript), so what the warehouse finds is what a row's redaction cuts out.
 */
const WORD = String.raw`\p{L}\p{N}_`
const BEFORE = String.raw`[^${WORD}.+@-]`
const AFTER = String.raw`(?:$|[^${WORD}@.-]|[.-](?:$|[^${WORD}]))`
const escapeNeedle = (n: string) => n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
const alternation = (needles: ReadonlyArray<string>) => [...needles].sort((a, b) => b.length - a.length).map(escapeNeedle).join("|")

/** The re2 pattern (ClickHouse `match`) finding any of the needles as a whole token. */
export const needleTokenPattern = (needles: ReadonlyArray<string>) => `(?i)(?:^|${BEFORE})(?:${alternation(needles)})${AFTER}`

/** The JavaScript pattern (flags giu) matching exactly the needle of each whole-token occurrence. */
export const needleTokenRegExp = (needles: ReadonlyArray<string>) =>
  new RegExp(String.raw`(?<![${WORD}.+@-])(?:${alternation(needles)})(?![${WORD}@]|[.-][${WORD}])`, "giu")

/** Past this many needles, mentionsNeedle looks candidates up instead of searching the text once per needle. */
const MANY_NEEDLES = 64
/** A character a needle cannot follow (see BEFORE). */
const TOKEN_CHAR = new RegExp(`[${WORD}.+@-]`, "u")

/**
 * mentionsNeedle for many needles (a person with 10,000 identifiers: a substring search per needle in every archived
 * message is billions of searches). At each place of the lowered text where a token may start, each length a needle
 * has is looked up in a map of the lowered needles; a hit is confirmed by that needle's own token pattern on the text.
 */
const mentionsAnyOf = (needles: ReadonlyArray<string>): ((text: string) => boolean) => {
  const lowered = new Set(needles.map((n) => n.toLowerCase()))
  const lengths = [...new Set([...lowered].map((n) => n.length))].filter((n) => n > 0)
  const patterns = new Map<string, RegExp>()
  return (text) => {
    const t = text.toLowerCase()
    for (let p = 0; p < t.length; p++) {
      if (p > 0 && TOKEN_CHAR.test(t[p - 1]!)) continue
      for (const length of lengths) {
        if (p + length > t.length) continue
        const needle = t.slice(p, p + length)
        if (!lowered.has(needle)) continue
        let pattern = patterns.get(needle)
        if (pattern === undefined) patterns.set(needle, pattern = needleTokenRegExp([needle]))
        pattern.lastIndex = 0
        if (pattern.test(text)) return true
      }
    }
    return false
  }
}

/** Whether a text holds one of the needles as a whole token (see needleTokenPattern). */
export const mentionsNeedle = (needles: ReadonlyArray<string>): ((text: string) => boolean) => {
  if (needles.length === 0) return () => false
  if (needles.length > MANY_NEEDLES) return mentionsAnyOf(needles)
  const pattern = needleTokenRegExp(needles)
  const lowered = needles.map((n) => n.toLowerCase())
  return (text) => {
    const t = text.toLowerCase()
    if (!lowered.some((n) => t.includes(n))) return false
    pattern.lastIndex = 0
    return pattern.test(text)
  }
}

/**
 * The single-byte charsets that bytes kept as base64 (ingest/utf8.ts keptAsText: bytes that are not UTF-8) are read in
 * for needles, besides the bytes as they are (an identifier in ASCII, or in UTF-8 among bytes that are not): Windows-1252
 * always (Latin-1's letters, as WHATWG reads Latin-1 labels; a line or mail that declares nothing is most often in it),
 * and each other one where the bytes declare it (`charset=`, a mail's or a MIME part's). One byte is one character in
 * each, so a cut in the text is a cut in the bytes. Each name is read as itself by the engine (convertCharset, ICU) and
 * by TextDecoder (WHATWG) alike, checked on every byte; multi-byte charsets (Shift_JIS, GB18030, EUC-KR) are not read.
 */
export const KEPT_BYTES_CHARSETS: ReadonlyArray<string> = [
  "windows-1252", "iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5", "iso-8859-6", "iso-8859-7", "iso-8859-8",
  "iso-8859-10", "iso-8859-13", "iso-8859-14", "iso-8859-15", "windows-1250", "windows-1251", "windows-1253",
  "windows-1254", "windows-1255", "windows-1256", "windows-1257", "windows-1258", "windows-874", "koi8-r", "koi8-u",
]
const ALWAYS_READ_IN = "windows-1252"
/** A charset the bytes declare (its name, group 1); the same pattern in SQL (bytesInCharsets). */
const DECLARED_CHARSET = String.raw`(?i)charset\s*=\s*"?([a-z0-9_.:-]+)`
const DECLARED_CHARSET_JS = /charset\s*=\s*"?([a-z0-9_.:-]+)/gi
const decoders = new Map(KEPT_BYTES_CHARSETS.map((c) => [c, new TextDecoder(c)]))

/** A reading of kept bytes, one character a byte, and the needles as they are written in it. */
interface BytesView {
  readonly text: string
  readonly needles: ReadonlyArray<string>
}

/** A charset label as TextDecoder names it ("latin1", "iso-8859-1" are "windows-1252"); the label lowered if unknown. */
const charsetName = (label: string): string => {
  try {
    return new TextDecoder(label).encoding
  } catch {
    return label.toLowerCase()
  }
}

/**
 * The readings of kept bytes searched for needles: their UTF-8 (in a latin1 view), Windows-1252, and the charsets they
 * declare or that `charsets` names (a MIME part's, declared in its headers, outside its bytes).
 */
const bytesViews = (bytes: Buffer, needles: ReadonlyArray<string>, charsets: ReadonlyArray<string> = []): ReadonlyArray<BytesView> => {
  const latin1 = bytes.toString("latin1")
  const declared = new Set([...[...latin1.matchAll(DECLARED_CHARSET_JS)].map((m) => m[1]!.toLowerCase()), ...charsets.map(charsetName)])
  const views: Array<BytesView> = [{ text: latin1, needles: needles.map((n) => Buffer.from(n, "utf8").toString("latin1")) }]
  for (const charset of KEPT_BYTES_CHARSETS) {
    if (charset !== ALWAYS_READ_IN && !declared.has(charset)) continue
    const text = decoders.get(charset)!.decode(bytes)
    if (text.length === bytes.length) views.push({ text, needles })
  }
  return views
}

/** Whether bytes kept as base64 hold one of the needles as a whole token in one of their readings (bytesViews). */
export const bytesMentionNeedle = (needles: ReadonlyArray<string>): ((bytes: Buffer) => boolean) => {
  if (needles.length === 0) return () => false
  const asUtf8 = mentionsNeedle(needles.map((n) => Buffer.from(n, "utf8").toString("latin1")))
  const asText = mentionsNeedle(needles)
  return (bytes) => bytesViews(bytes, []).some((v, i) => (i === 0 ? asUtf8 : asText)(v.text))
}

/**
 * Cuts every whole-token occurrence of a needle out of kept bytes, in each of their readings (bytesViews, `charsets`
 * added to those the bytes declare) one after another, as redactRow cuts text ("[erased]", or "0" for digits); the
 * other bytes stay as they were.
 */
export const redactBytes = (bytes: Buffer, needles: ReadonlyArray<string>, charsets: ReadonlyArray<string> = []): Buffer => {
  let out = bytes
  for (let i = 0; needles.length > 0; i++) {
    const view = bytesViews(out, needles, charsets)[i]
    if (view === undefined) return out
    const pattern = needleTokenRegExp(view.needles)
    const pieces: Array<Buffer> = []
    let from = 0
    for (const m of view.text.matchAll(pattern)) {
      pieces.push(out.subarray(from, m.index), Buffer.from(/^\+?\d+$/.test(m[0]) ? "0" : "[erased]", "latin1"))
      from = m.index + m[0].length
    }
    if (pieces.length > 0) out = Buffer.concat([...pieces, out.subarray(from)])
  }
  return out
}

/**
 * A mail that may hold text only a MIME decoding shows: a transfer-encoded part (base64, quoted-printable, where a
 * soft line break can split an address and a letter past ASCII is =E9) or an RFC 2047 encoded-word (`=?utf-8?b?...?=`).
 * The same pattern in SQL (MIME_ENCODED_SQL) picks the dead letters read decoded.
 */
const MIME_ENCODED = /content-transfer-encoding:\s*"?(?:base64|quoted-printable)|=\?[^?\s]+\?[bq]\?/i
const MIME_ENCODED_SQL = String.raw`(?i)content-transfer-encoding:\s*"?(?:base64|quoted-printable)|=\?[^?\s]+\?[bq]\?`
export const mayBeMimeEncoded = (raw: Buffer): boolean => MIME_ENCODED.test(raw.toString("latin1"))

/** Read as a search needs it: no HTML turned into text (slow on large HTML; the HTML is searched as it is). */
const MAIL_READING = { skipHtmlToText: true, skipTextToHtml: true, skipImageLinks: true, skipTextLinks: true } as const

/** How deep forwarded messages (message/rfc822 inside message/rfc822) are read by decodedMailText (and cut: erasure-mime.ts). */
export const FORWARDS_READ = 4

/**
 * A raw mail as a reader sees it, for the needle search: its headers with encoded-words decoded, its text and HTML
 * parts and text attachments decoded from their transfer encoding and charset, and a forwarded message (message/rfc822)
 * read the same way (mailparser, which ingest/sources/email.ts reads mail with). Empty for bytes mailparser cannot read.
 */
export const decodedMailText = (raw: Buffer): Effect.Effect<string> =>
  Effect.tryPromise(() => readMail(raw, 0)).pipe(Effect.orElseSucceed(() => ""))

const readMail = async (raw: Buffer, depth: number): Promise<string> => {
  const { simpleParser } = await import("mailparser")
  const mail = await simpleParser(raw, MAIL_READING)
  // Each header line as written, its encoded-words decoded: an address header's parsed value loses one that a single
  // word holds whole (`Cc: =?iso-8859-1?q?Jos=E9_=3Cjos=E9...=3E?=` is read as an empty Cc).
  const lines = mail.headerLines.map((h) => libmime().decodeWords(h.line))
  const texts = mail.attachments.filter((a) => /^text\//i.test(a.contentType)).map((a) => a.content.toString("utf8"))
  // Every attachment's headers, decoded: its filename, description (an encoded-word or RFC 2231 value can name someone).
  texts.push(...mail.attachments.map((a) => JSON.stringify([...a.headers])))
  const forwarded = depth < FORWARDS_READ ? mail.attachments.filter((a) => /^message\/(rfc822|global)$/i.test(a.contentType)) : []
  for (const a of forwarded) texts.push(await readMail(a.content, depth + 1))
  return [JSON.stringify([...mail.headers]), ...lines, mail.text ?? "", typeof mail.html === "string" ? mail.html : "", ...texts].join("\n")
}

/**
 * multiSearchAny takes at most 255 needles ("passed 20000, should be at most 255": a DSR about a person with 10,000
 * identifiers failed on it), so more are searched in groups of this many, each group with its own token pattern, over
 * the row's texts joined into one (NEEDLE_TEXT): a condition per group, not per group and column.
 */
const NEEDLE_GROUP = 255
/** The row's texts joined by newlines (no identifier holds one), named in the statement's WITH clause. */
const NEEDLE_TEXT = "__needle_text"
/**
 * NEEDLE_TEXT lowered once, searched case-sensitively for the needles lowered the same way (lowerUTF8): the same hits
 * as multiSearchAnyCaseInsensitiveUTF8 per group, which lowers the text again for each group. Measured over 50,000
 * rows with 2,000 needles (8 groups): 2,301 ms that way, 464 ms this way (~0.2 s of either is the statement's cost).
 */
const NEEDLE_LOWER = "__needle_lower"

const groupsOf = (needles: ReadonlyArray<string>): ReadonlyArray<ReadonlyArray<string>> => {
  const groups: Array<ReadonlyArray<string>> = []
  for (let i = 0; i < needles.length; i += NEEDLE_GROUP) groups.push(needles.slice(i, i + NEEDLE_GROUP))
  return groups
}

/** The query parameters the condition of containsNeedle reads, for these needles. */
const needleParams = (needles: ReadonlyArray<string>): Record<string, unknown> =>
  needles.length <= NEEDLE_GROUP
    ? { needles, needle_pattern: needleTokenPattern(needles) }
    : Object.fromEntries(groupsOf(needles).flatMap((g, i) => [[`needles_${i}`, g], [`needle_pattern_${i}`, needleTokenPattern(g)]]))

/** SQL: `bytes` read in Windows-1252 and in each other charset of KEPT_BYTES_CHARSETS they declare, as UTF-8 text. */
const bytesInCharsets = (bytes: string): string => {
  const declared = `arrayMap(__c -> lower(__c), extractAll(${bytes}, '${DECLARED_CHARSET.replace(/\\/g, "\\\\")}'))`
  const other = KEPT_BYTES_CHARSETS.filter((c) => c !== ALWAYS_READ_IN)
    .map((c) => `if(has(${declared}, '${c}'), convertCharset(${bytes}, '${c}', 'UTF-8'), '')`)
  return `concat(convertCharset(${bytes}, '${ALWAYS_READ_IN}', 'UTF-8'), ${other.map((o) => `'\\n', ${o}`).join(", ")})`
}

/**
 * The texts of a row the needles are searched in. A column beside which the table has `<column>_encoding` (dead_letters'
 * payload: bytes that are not UTF-8 kept as base64, ingest/utf8.ts keptAsText) is searched in the bytes it keeps, where
 * an identifier written in ASCII (an address, a number) or in UTF-8 is found as in text, and in those bytes read in
 * the charsets of KEPT_BYTES_CHARSETS (bytesInCharsets), where one written in Latin-1 or a declared charset is.
 */
const textColumns = (columns: ReadonlyArray<Column>) => columns.filter((c) => c.type.includes("String")).flatMap((c) => {
  const plain = /^(LowCardinality\()?(Nullable\()?String\)?\)?$/.test(c.type)
  const text = plain ? `toString(ifNull(${quoteId(c.name)}, ''))` : `toString(${quoteId(c.name)})`
  const encoding = columns.some((e) => e.name === `${c.name}_encoding`) ? quoteId(`${c.name}_encoding`) : undefined
  if (encoding === undefined) return [text]
  const bytes = `tryBase64Decode(${text})`
  return [`if(${encoding} = 'base64', ${bytes}, ${text})`, `if(${encoding} = 'base64', ${bytesInCharsets(bytes)}, '')`]
})

/** What a statement using containsNeedle starts with: past NEEDLE_GROUP needles, the WITH naming NEEDLE_TEXT. */
const needleWith = (columns: ReadonlyArray<Column>, needleCount: number): string => {
  const texts = textColumns(columns)
  return needleCount <= NEEDLE_GROUP || texts.length === 0
    ? ""
    : `WITH concat(${texts.join(", '\\n', ")}, '') AS ${NEEDLE_TEXT}, lowerUTF8(${NEEDLE_TEXT}) AS ${NEEDLE_LOWER} `
}

/**
 * Whether one of the needles is in any text of the row as a whole token: the substring search (fast, case-insensitive)
 * first, then the token rule. Parameters from needleParams: {needles:Array(String)} and {needle_pattern:String}
 * (needleTokenPattern), or, past NEEDLE_GROUP needles, {needles_N} and {needle_pattern_N} per group over NEEDLE_TEXT
 * (the statement starts with needleWith).
 */
const containsNeedle = (columns: ReadonlyArray<Column>, needleCount: number): string => {
  const texts = textColumns(columns)
  if (texts.length === 0) return "0"
  if (needleCount > NEEDLE_GROUP) {
    return Array.from({ length: Math.ceil(needleCount / NEEDLE_GROUP) }, (_, i) =>
      `(multiSearchAny(${NEEDLE_LOWER}, arrayMap(__needle -> lowerUTF8(__needle), {needles_${i}:Array(String)})) ` +
        `AND match(${NEEDLE_TEXT}, {needle_pattern_${i}:String}))`).join(" OR ")
  }
  return texts.map((expr) =>
    `(multiSearchAnyCaseInsensitiveUTF8(${expr}, {needles:Array(String)}) AND match(${expr}, {needle_pattern:String}))`).join(" OR ")
}

const fingerprint = (columns: ReadonlyArray<Column>) =>
  `hex(sipHash128(toString(tuple(${columns.map((c) => quoteId(c.name)).join(", ")}))))`

const hasTenant = (columns: ReadonlyArray<Column>) => columns.some((c) => c.name === "tenant")

const subjectCondition = (locator: TableLocator, columns: ReadonlyArray<Column>, linkedParam: boolean, needleCount: number) => {
  const parts: Array<string> = []
  if (locator.messageId !== undefined) parts.push(`${quoteId(locator.messageId)} IN {ids:Array(String)}`)
  for (const p of locator.profileIds ?? []) parts.push(`${quoteId(p)} IN {profiles:Array(String)}`)
  if (locator.linked !== undefined && linkedParam) parts.push(`${quoteId(locator.linked.column)} IN {linked:Array(String)}`)
  if (locator.needleMatch === "delete") parts.push(`(${containsNeedle(columns, needleCount)})`)
  return parts.length === 0 ? "0" : parts.join(" OR ")
}

const WHERE_TENANT = "tenant = {tenant:String} AND "

/*
 * The needle search reads every row of a table (another's text may mention the subject), and with many needles it is
 * slow (~0.1 ms a row with 2,000 needles): as one statement it held the embedded engine, which runs one statement at a
 * time, for 33 s over 300,000 rows, and /health and other tenants' reads waited behind it. So a MergeTree table is
 * searched part by part in slices of _part_offset (PREWHERE, so only the slice's rows are read and searched), each
 * slice a whole number of granules, sized from the time the last one took to hold the engine about SLICE_TARGET_MS.
 * Not much shorter: a statement with 2,000 needles costs ~0.2 s before it reads a row (its searchers and parameters;
 * measured at 1 row, 212-240 ms, against 1.96 s for 20,000 rows and 11.8 s for the whole 100,000), so small slices
 * would make the search several times slower. A part that a merge or mutation replaces meanwhile is dropped from the
 * answer and the parts that replaced it are searched in turn: the answer is that of the table's parts active when the
 * search ends.
 */
const SLICE_TARGET_MS = 1_000
/**
 * Below this many rows x needles a table is searched in one statement, as before slicing: about a quarter of a second
 * at the measured rate (7.5 s for 300,000 rows x 2,000 needles), so a request about a person with a few identifiers
 * does not pay a statement per part of every table (the dev set's erasures took 15-18% longer sliced).
 */
const SLICE_MIN_WORK = 20_000_000
/** A granule (index_granularity): a slice is a whole number of them, so no granule is read by two statements. */
const GRANULE = 8_192
/** Rounds of searching parts that replaced others; past them (merges without end) one statement over the table. */
const SLICE_ROUNDS = 8

type SearchError = WarehouseUnavailable | WarehouseQueryError

/** What a sliced statement puts after its FROM: the slice's PREWHERE (empty: the whole table), and its parameters. */
interface Slice {
  readonly prewhere: string
  readonly params: Record<string, unknown>
}

const WHOLE_TABLE: Slice = { prewhere: "", params: {} }
const PART_SLICE = "PREWHERE _part = {slice_part:String} AND _part_offset >= {slice_from:UInt64} AND _part_offset < {slice_to:UInt64} "

/**
 * Runs `run` over every slice of the table's active parts (see SLICE_TARGET_MS) and returns all their rows; over the
 * whole table at once when it has little to search for `needles` (SLICE_MIN_WORK).
 */
const overSlices = <A>(table: string, needles: number, run: (slice: Slice) => Effect.Effect<ReadonlyArray<A>, SearchError, Warehouse>) =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    const [t] = yield* warehouse.query<{ engine: string }>(
      "SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = {table:String}", { params: { table } })
    if (t === undefined || !t.engine.endsWith("MergeTree")) return yield* run(WHOLE_TABLE)
    const byPart = new Map<string, ReadonlyArray<A>>()
    let size = GRANULE
    for (let round = 0; ; round++) {
      const parts = yield* warehouse.query<{ name: string; rows: string }>(
        "SELECT name, rows FROM system.parts WHERE database = currentDatabase() AND table = {table:String} AND active ORDER BY name",
        { params: { table } })
      if (round === 0 && parts.reduce((n, p) => n + Number(p.rows), 0) * Math.max(1, needles) < SLICE_MIN_WORK) return yield* run(WHOLE_TABLE)
      const active = new Set(parts.map((p) => p.name))
      for (const name of [...byPart.keys()]) if (!active.has(name)) byPart.delete(name)
      const todo = parts.filter((p) => !byPart.has(p.name))
      if (todo.length === 0) return [...byPart.values()].flat()
      if (round === SLICE_ROUNDS) return yield* run(WHOLE_TABLE)
      for (const part of todo) {
        const found: Array<A> = []
        const rows = Number(part.rows)
        for (let from = 0; from < rows;) {
          const to = Math.min(rows, from + size)
          const started = performance.now()
          found.push(...(yield* run({ prewhere: PART_SLICE, params: { slice_part: part.name, slice_from: from, slice_to: to } })))
          const ms = Math.max(1, performance.now() - started)
          const next = Math.min(2 * size, ((to - from) * SLICE_TARGET_MS) / ms)
          size = Math.max(1, Math.round(next / GRANULE)) * GRANULE
          from = to
        }
        byPart.set(part.name, found)
      }
    }
  })

/**
 * The tenant's rows of a table whose `mail` column (TableLocator.mail) names a needle only inside a MIME encoding: rows
 * that containsNeedle does not find and whose mail may be encoded (MIME_ENCODED_SQL) are read decoded
 * (decodedMailText) and searched there. Each row with its fingerprint (__h) and all its columns.
 */
const mailMentionRows = (table: string, columns: ReadonlyArray<Column>, mail: string, tenant: string, needles: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const column = columns.find((c) => c.name === mail)
    if (column === undefined || needles.length === 0) return [] as Array<Row>
    const warehouse = yield* Warehouse
    const [raw] = textColumns([column, ...columns.filter((c) => c.name === `${mail}_encoding`)])
    const list = columns.map((c) => quoteId(c.name)).join(", ")
    const rows = yield* overSlices(table, needles.length, (slice) => warehouse.query<Row & { __h: string; __raw: string }>(
      `${needleWith(columns, needles.length)}SELECT ${fingerprint(columns)} AS __h, 1 AS __mine, base64Encode(${raw}) AS __raw, ${list} ` +
        `FROM ${quoteId(table)} ${slice.prewhere}WHERE ${hasTenant(columns) ? WHERE_TENANT : ""}match(${raw}, {mime_encoded:String}) ` +
        `AND NOT (${containsNeedle(columns, needles.length)})`,
      { params: { tenant, mime_encoded: MIME_ENCODED_SQL, ...needleParams(needles), ...slice.params } }))
    const holds = mentionsNeedle(needles)
    const found: Array<Row> = []
    for (const { __raw, ...row } of rows) if (holds(yield* decodedMailText(Buffer.from(__raw, "base64")))) found.push(row)
    return found
  })

/** The subject's rows of a table (and, for "redact" tables, others' rows that mention them), each with its fingerprint. */
export const findRows = Effect.fn("findRows")(function* (locator: TableLocator, subject: SubjectKeys, linked: ReadonlyArray<string> = []) {
  const warehouse = yield* Warehouse
  const columns = yield* storedColumns(locator.table)
  if (columns.length === 0) return { columns, mine: [] as Array<Row>, mentions: [] as Array<Row> }
  const mine = subjectCondition(locator, columns, true, subject.needles.length)
  const mention = locator.needleMatch === "redact" ? containsNeedle(columns, subject.needles.length) : "0"
  const list = columns.map((c) => quoteId(c.name)).join(", ")
  const params = { tenant: subject.tenant, ids: subject.messageIds, profiles: subject.profileIds, ...needleParams(subject.needles), linked }
  const rows = yield* overSlices(locator.table, subject.needles.length, (slice) => warehouse.query<Row & { __h: string; __mine: number }>(
    `${needleWith(columns, subject.needles.length)}SELECT ${fingerprint(columns)} AS __h, (${mine}) AS __mine, ${list} FROM ${quoteId(locator.table)} ` +
      `${slice.prewhere}WHERE ${hasTenant(columns) ? WHERE_TENANT : ""}((${mine}) OR (${mention}))`,
    { params: { ...params, ...slice.params } }))
  const inMail = locator.mail !== undefined && locator.needleMatch === "delete"
    ? yield* mailMentionRows(locator.table, columns, locator.mail, subject.tenant, subject.needles)
    : []
  return {
    columns,
    mine: [...rows.filter((r) => Number(r.__mine) === 1), ...inMail],
    mentions: rows.filter((r) => Number(r.__mine) !== 1),
  }
})

const dropHidden = (row: Row): Row => {
  const { __h: _h, __mine: _m, ...rest } = row
  return rest
}

export const exportRows = (rows: ReadonlyArray<Row>): ReadonlyArray<Row> => rows.map(dropHidden)

/**
 * Cuts every whole-token occurrence of a needle out of a row's texts (a number that merely contains a digits-only id
 * stays); an array element (an identifier, a sighting) holding one is removed whole.
 */
export const redactRow = (row: Row, needles: ReadonlyArray<string>): Row => {
  if (needles.length === 0) return row
  const pattern = needleTokenRegExp(needles)
  const holds = (v: unknown): boolean => {
    if (typeof v === "string") {
      pattern.lastIndex = 0
      return pattern.test(v)
    }
    if (Array.isArray(v)) return v.some(holds)
    if (v !== null && typeof v === "object") return Object.values(v).some(holds)
    return false
  }
  // Digits alone may sit in a JSON number (a phone sent as a number): "0" keeps such JSON text valid.
  const replace = (s: string) => s.replace(pattern, (m) => (/^\+?\d+$/.test(m) ? "0" : "[erased]"))
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return replace(v)
    if (Array.isArray(v)) return v.filter((e) => typeof e === "string" || !holds(e)).map(walk)
    if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]))
    return v
  }
  return walk(dropHidden(row)) as Row
}

/** A Memory table of strings that a mutation can name rows through, dropped when the scope closes. */
const scratchTable = (values: ReadonlyArray<string>) =>
  Effect.flatMap(Effect.gen(function* () { return yield* Warehouse }), (warehouse) => Effect.acquireRelease(
    Effect.gen(function* () {
      const name = `_erasure_${randomBytes(6).toString("hex")}`
      yield* warehouse.command(`CREATE TABLE ${name} (v String) ENGINE = Memory`)
      yield* warehouse.insert(name, values.map((v) => ({ v })))
      return name
    }),
    (name) => warehouse.command(`DROP TABLE IF EXISTS ${name} SYNC`).pipe(Effect.ignore),
  ))

/** A Join-engine table of redacted values by row fingerprint, that a mutation reads with joinGet; dropped with the scope. */
const redactionTable = (columns: ReadonlyArray<Column>, rows: ReadonlyArray<Row>) =>
  Effect.flatMap(Effect.gen(function* () { return yield* Warehouse }), (warehouse) => Effect.acquireRelease(
    Effect.gen(function* () {
      const name = `_erasure_${randomBytes(6).toString("hex")}`
      const [db] = yield* warehouse.query<{ db: string }>("SELECT currentDatabase() AS db")
      yield* warehouse.command(
        `CREATE TABLE ${name} (__h String, ${columns.map((c) => `${quoteId(c.name)} ${c.type}`).join(", ")}) ENGINE = Join(ANY, LEFT, __h)`)
      yield* warehouse.insert(name, rows)
      return `${db!.db}.${name}`
    }),
    (name) => warehouse.command(`DROP TABLE IF EXISTS ${name} SYNC`).pipe(Effect.ignore),
  ))

/**
 * An erasure's mutation failed in the engine, or ran past MUTATION_TIMEOUT_MS: it was killed, the erasure fails. Also
 * what runMutation fails with for others' mutations (`mutation` names them).
 */
export class ErasureMutationFailed extends Data.TaggedError("ErasureMutationFailed")<{
  readonly table: string
  /** What happened, after "the erasure's mutation of table T ". */
  readonly what: string
  /** The mutation, for messages: "the erasure's mutation" unless given ("the consent strip's mutation"). */
  readonly mutation?: string
}> {
  override get message() {
    return `${this.mutation ?? "the erasure's mutation"} of table ${this.table} ${this.what}`
  }
}

/**
 * How long an erasure's mutation may run on the embedded engine before it is killed and the erasure fails. Generous:
 * measured, a DELETE over event_rows of 1,000,022 rows in 16 parts took 2.6 s.
 */
export const MUTATION_TIMEOUT_MS = 10 * 60_000
/** The first look at a running mutation comes this soon; each later one half as late again, up to MUTATION_POLL_MAX_MS. */
const MUTATION_POLL_FIRST_MS = 25
const MUTATION_POLL_MAX_MS = 200

/**
 * The engine's reason a mutation failed, in one line without the values it quotes (a row's text may be personal):
 * "Cannot parse string '…' as UInt32: syntax error at begin of string. (CANNOT_PARSE_TEXT)".
 */
const failReason = (text: string): string => {
  const line = text.trim().split("\n")[0]!
  const name = /\(([A-Z][A-Z0-9_]+)\)(?:\s*\(version [^)]*\))?\s*$/.exec(line)?.[1]
  const what = line
    .replace(/^Code: \d+\. DB::Exception: /, "")
    .replace(/: while executing .*$/, "")
    .replace(/\s*\([A-Z][A-Z0-9_]+\)(?:\s*\(version [^)]*\))?\s*$/, "")
    .replace(/'(?:[^'\\]|\\.)*'/g, "'…'")
  return `${what.length > 300 ? `${what.slice(0, 300)}…` : what}${name === undefined ? "" : ` (${name})`}`
}

/**
 * Runs a mutation of `table` (`alter`: ALTER TABLE ... DELETE or UPDATE, or a lightweight DELETE FROM, without SETTINGS)
 * and returns when the engine has applied it to every part. `marker` is a text only this mutation's command holds (the
 * name of a scratch table it reads, or a unique literal it compares), by which it is found in system.mutations (query
 * parameters are there as the values they were given); `settings` are more of the ALTER's SETTINGS, `params` its query
 * parameters, `mutation` what failures call it ("the erasure's mutation" unless given).
 *
 * On a server, mutations_sync = 2, as the server runs other statements meanwhile. The embedded engine runs one
 * statement at a time per connection, and a synchronous mutation held it for the whole rewrite: a DELETE over
 * event_rows of 1,000,022 rows in 16 parts held it 2,568 ms, and a profile read or /health behind it waited as long.
 * So there it starts with mutations_sync = 0 (the engine's background pool rewrites the parts) and is watched in
 * system.mutations by short statements until is_done. One that reports a failure, runs past `timeoutMs`, or cannot
 * run because another mutation of the table fails (the engine then retries both for minutes) is killed and fails
 * ErasureMutationFailed. One still running when this ends otherwise (an interruption, a failure) is killed
 * too, before the caller's scope drops the scratch tables it reads: else it fails for good ("Unknown table expression
 * identifier '_erasure_...'") and every later mutation of the table waits behind it. Parts it already rewrote stay so.
 * The write is announced again when it is done, so caches that dropped answers when the ALTER returned drop those
 * read meanwhile.
 */
export const runMutation = Effect.fn("runMutation")(function* (
  table: string, alter: string, marker: string,
  options: { readonly settings?: string; readonly timeoutMs?: number; readonly params?: Record<string, unknown>; readonly mutation?: string } = {},
) {
  const warehouse = yield* Warehouse
  const more = options.settings === undefined ? "" : `, ${options.settings}`
  // A lightweight DELETE waits by its own setting (mutations_sync is the ALTER's).
  const sync = /^\s*DELETE\s+FROM\b/i.test(alter) ? "lightweight_deletes_sync" : "mutations_sync"
  if (warehouse.backend.kind === "server") return yield* warehouse.command(`${alter} SETTINGS ${sync} = 2${more}`, options.params)
  const timeoutMs = options.timeoutMs ?? MUTATION_TIMEOUT_MS
  const failed = (what: string) => new ErasureMutationFailed({ table, what, ...(options.mutation === undefined ? {} : { mutation: options.mutation }) })
  const params = { table, marker }
  // This mutation, and any other of the table that is failing: the engine applies a part's pending mutations together,
  // so while another fails, this one cannot be done (and reports that one's failure as its own).
  const watched = "SELECT mutation_id, is_done, latest_fail_reason, position(command, {marker:String}) > 0 AS mine FROM system.mutations " +
    "WHERE database = currentDatabase() AND table = {table:String} AND (position(command, {marker:String}) > 0 OR (NOT is_done AND latest_fail_reason != ''))"
  let done = false
  yield* Effect.scoped(Effect.gen(function* () {
    yield* Effect.acquireRelease(
      warehouse.command(`${alter} SETTINGS ${sync} = 0${more}`, options.params),
      () => (done ? Effect.void : warehouse.command(`KILL MUTATION WHERE database = currentDatabase() AND table = {table:String} ` +
        "AND position(command, {marker:String}) > 0 AND NOT is_done SYNC", params).pipe(Effect.ignore)).pipe(
        Effect.andThen(noteWrite(warehouse, { kind: "command", sql: alter, params: undefined }))),
    )
    const deadline = Date.now() + timeoutMs
    for (let wait = MUTATION_POLL_FIRST_MS; ; wait = Math.min(MUTATION_POLL_MAX_MS, wait * 1.5)) {
      const mark = detachmentMark()
      const rows = yield* warehouse.query<{ mutation_id: string; is_done: number | string; latest_fail_reason: string; mine: number | string }>(
        watched, { params })
      const m = rows.find((r) => Number(r.mine) === 1)
      // A table detached meanwhile (an erasure's reattach, any tenant's) lists its mutations again once it is back.
      if (m === undefined && detachmentSince(mark) && Date.now() < deadline) {
        yield* detachmentsEnded
        continue
      }
      if (m === undefined) return yield* failed(`is no longer listed in system.mutations (killed outside ${options.mutation === undefined ? "the erasure" : "cdp"})`)
      if (Number(m.is_done) === 1) {
        done = true
        return
      }
      const other = rows.find((r) => Number(r.mine) !== 1)
      if (other !== undefined) {
        return yield* failed(
          `cannot run while ${other.mutation_id} of the table fails: ${failReason(other.latest_fail_reason)}; it was stopped ` +
            `(KILL MUTATION WHERE table = '${table}' AND mutation_id = '${other.mutation_id}' lets the table's mutations run again)`)
      }
      if (m.latest_fail_reason !== "") {
        return yield* failed(`failed and was stopped: ${failReason(m.latest_fail_reason)}`)
      }
      if (Date.now() >= deadline) {
        return yield* failed(`was not done after ${timeoutMs / 1000} s and was stopped (the limit: MUTATION_TIMEOUT_MS, warehouse/erasure.ts)`)
      }
      yield* Effect.sleep(Duration.millis(wait))
    }
  }))
})

/**
 * Deletes the rows of `table` whose `column` holds one of `values` and that meet `also` (SQL without parameters, or
 * ""): a mutation naming them through a scratch table, waited for by runMutation.
 */
export const deleteWhereIn = Effect.fn("deleteWhereIn")(function* (table: string, column: string, values: ReadonlyArray<string>, also = "") {
  if (values.length === 0) return
  yield* Effect.scoped(Effect.gen(function* () {
    const list = yield* scratchTable([...new Set(values)])
    yield* runMutation(table, `ALTER TABLE ${quoteId(table)} DELETE WHERE ${quoteId(column)} IN (SELECT v FROM ${list})${also === "" ? "" : ` AND ${also}`}`, list)
  }))
})

const sameValue = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/**
 * Deletes the subject's rows (by fingerprint, through a scratch table) and redacts others' rows that mention them
 * in place (ALTER TABLE ... UPDATE from a Join table of the redacted values), both mutations waited for (runMutation). In
 * place, not deleted and inserted again: an insert would run the materialized views fed by the table a second time
 * (relation_activity_mv counts events). A row whose key column would change (rare: an identifier in a sorting key) is
 * deleted and inserted redacted instead. Returns how many rows were deleted and how many were redacted.
 */
export const eraseRows = Effect.fn("eraseRows")(function* (
  locator: TableLocator, found: { readonly columns: ReadonlyArray<Column>; readonly mine: ReadonlyArray<Row>; readonly mentions: ReadonlyArray<Row> },
  needles: ReadonlyArray<string>,
) {
  if (found.mine.length + found.mentions.length === 0) return { deleted: 0, redacted: 0 }
  const warehouse = yield* Warehouse
  const table = quoteId(locator.table)
  const print = fingerprint(found.columns)
  const redacted = found.mentions.map((r) => ({ before: r, after: redactRow(r, needles) }))
  const keyChanged = redacted.filter((r) => found.columns.some((c) => c.key && !sameValue(r.before[c.name], r.after[c.name])))
  const inPlace = redacted.filter((r) => !keyChanged.includes(r))
  const removed = [...found.mine, ...keyChanged.map((r) => r.before)]
  yield* Effect.scoped(Effect.gen(function* () {
    if (removed.length === 0) return
    const hashes = yield* scratchTable([...new Set(removed.map((r) => String(r["__h"])))])
    const prefilter = locator.messageId === undefined
      ? ""
      : `${quoteId(locator.messageId)} IN (SELECT v FROM ${yield* scratchTable([...new Set(removed.map((r) => String(r[locator.messageId!])))])}) AND `
    yield* runMutation(locator.table, `ALTER TABLE ${table} DELETE WHERE ${prefilter}${print} IN (SELECT v FROM ${hashes})`, hashes)
  }))
  yield* Effect.scoped(Effect.gen(function* () {
    const changed = found.columns.filter((c) => !c.key && inPlace.some((r) => !sameValue(r.before[c.name], r.after[c.name])))
    if (inPlace.length === 0 || changed.length === 0) return
    const join = yield* redactionTable(changed, inPlace.map((r) => ({
      __h: r.before["__h"], ...Object.fromEntries(changed.map((c) => [c.name, r.after[c.name]])),
    })))
    const prefilter = locator.messageId === undefined
      ? ""
      : `${quoteId(locator.messageId)} IN (SELECT v FROM ${yield* scratchTable([...new Set(inPlace.map((r) => String(r.before[locator.messageId!])))])}) AND `
    yield* runMutation(locator.table,
      `ALTER TABLE ${table} UPDATE ${changed.map((c) => `${quoteId(c.name)} = joinGet('${join}', '${c.name}', ${print})`).join(", ")} ` +
        `WHERE ${prefilter}${print} IN (SELECT __h FROM ${join})`, join, { settings: "allow_nondeterministic_mutations = 1" })
  }))
  yield* warehouse.insert(locator.table, keyChanged.map((r) => r.after))
  return { deleted: found.mine.length, redacted: redacted.length }
})

/**
 * Deletes every row of one tenant from a table (a cache per tenant, built again from the tables it is made of: an
 * erasure empties the subject's tenant's, not every tenant's), waited for by runMutation.
 */
export const deleteTenantRows = Effect.fn("deleteTenantRows")(function* (table: string, tenant: string) {
  const marker = `cdp_tenant_rows_${randomBytes(6).toString("hex")}`
  yield* runMutation(table, `ALTER TABLE ${quoteId(table)} DELETE WHERE tenant = {tenant:String} AND {marker:String} != ''`, marker,
    { params: { tenant, marker }, mutation: `the deletion of tenant ${tenant}'s rows of ${table}` })
})

/**
 * The settings that make outdated parts leave the disk at once (migrations 025, 084 and 089 set them; see the module
 * comment): no lifetime, and the engine's cleanup task waking every second even on an idle table (it backs off up to
 * max_cleanup_delay_period, 300 s by default, which made an erasure detach the table to have them removed).
 */
export const PROMPT_CLEANUP_SETTINGS =
  "old_parts_lifetime = 0, cleanup_delay_period = 1, cleanup_delay_period_random_add = 0, min_compressed_bytes_to_fsync_after_merge = 1, " +
  "max_cleanup_delay_period = 1"

/** Outdated (inactive) parts still on disk, per table. */
export const outdatedParts = Effect.fn("outdatedParts")(function* (tables: ReadonlyArray<string>) {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ table: string; parts: string }>(
    "SELECT table, count() AS parts FROM system.parts WHERE database = currentDatabase() AND table IN {tables:Array(String)} " +
      "AND NOT active GROUP BY table ORDER BY table", { params: { tables } })
})

/** Outdated (inactive) parts still on disk, by table and part name. */
const outdatedPartNames = Effect.fn("outdatedPartNames")(function* (tables: ReadonlyArray<string>) {
  const warehouse = yield* Warehouse
  if (tables.length === 0) return []
  // The names written in, not bound: a server before 19.x (Debian's 18.16, which test/integration runs) has no parameters.
  return yield* warehouse.query<{ table: string; name: string }>(
    `SELECT table, name FROM system.parts WHERE database = currentDatabase() AND table IN (${tables.map(stringLiteral).join(", ")}) AND NOT active`)
})

/**
 * Waits until none of the parts outdated when it begins is left on disk; returns the tables still holding some after
 * `timeoutMs`. Only those may hold rows from before the erasure's mutations: a part that goes outdated later was made
 * from parts written or rewritten after them, so a table that keeps taking rows (and merging them) meanwhile does not
 * make the wait fail. A table holding some is given the prompt cleanup settings first (ensurePromptCleanup): one made
 * without them (after migration 025) keeps its outdated parts old_parts_lifetime, 480 s by default, and an erasure
 * after one of its merges failed (export_deliveries, after an export run).
 * Embedded engine: its background task that should remove them sleeps longer and longer while a table is idle (seen
 * not to run for minutes) unless max_cleanup_delay_period bounds it (PROMPT_CLEANUP_SETTINGS), so a table still holding
 * them 5 s into the wait (one that has the settings only since ensurePromptCleanup) is detached and attached again: a
 * start-up, which removes them (reattach; this process's statements meeting the table away wait for it, whileDetached).
 * Server: never detached. Every cdp process of a scale-out deployment shares the server's tables, and another
 * process's statements would fail UNKNOWN_TABLE meanwhile; the server's own cleanup removes them (18.16, measured:
 * about 10 s after the mutation on an idle table, within a second of the next insert into it).
 */
export const awaitOldPartsGone = Effect.fn("awaitOldPartsGone")(function* (tables: ReadonlyArray<string>, timeoutMs = 60_000) {
  const warehouse = yield* Warehouse
  const onServer = warehouse.backend.kind === "server"
  const deadline = Date.now() + timeoutMs
  const key = (p: { table: string; name: string }) => `${p.table}\u0000${p.name}`
  const outdated = yield* outdatedPartNames(tables)
  if (outdated.length === 0) return []
  const before = new Set(outdated.map(key))
  for (const table of new Set(outdated.map((p) => p.table))) {
    yield* onServer ? promptCleanupIfAllowed(table) : ensurePromptCleanup(table)
  }
  yield* Effect.sleep("1100 millis")
  // Tables with the prompt cleanup settings lose them within a second or two: detaching is the embedded engine's last
  // resort, for a table whose settings came only now (its cleanup task may still be asleep for minutes).
  let lastReattach = Date.now()
  while (true) {
    const left = [...new Set((yield* outdatedPartNames(tables)).filter((p) => before.has(key(p))).map((p) => p.table))]
    if (left.length === 0) return []
    if (Date.now() > deadline) return left
    // Once every 5 s at most: the fresh table's own background task needs a moment to remove them.
    if (!onServer && Date.now() - lastReattach > 5_000) {
      lastReattach = Date.now()
      for (const t of left) yield* reattach(t)
    }
    yield* Effect.sleep(onServer ? "500 millis" : "250 millis")
  }
})

/**
 * ensurePromptCleanup on a server that may refuse it: one before 19.x has no ALTER ... MODIFY SETTING (a syntax
 * error; its tables take such settings only in their CREATE). The wait then goes on with the table's own lifetime
 * and, past it, names the table as still holding outdated parts.
 */
const promptCleanupIfAllowed = (table: string) =>
  ensurePromptCleanup(table).pipe(Effect.catchTag("WarehouseQueryError", (e) =>
    Effect.logWarning("the ClickHouse server refused to lower a table's old_parts_lifetime; its outdated parts stay that long").pipe(
      Effect.annotateLogs({ table, code: e.code ?? "" }))))

/** How long a detached table's ATTACH is tried again while queries begun before the DETACH still hold the table. */
const REATTACH_WITHIN_MS = 60_000

/**
 * Detaches a table and attaches it again (a start-up, which removes its outdated parts). SYNC waits for the queries
 * holding it, and ATTACH is tried again while the engine still says some query uses it ("Retry later": a read on
 * another connection, such as a profile document's build, can still hold it), so the table is never left detached:
 * every landing into a detached table fails.
 */
const reattach = Effect.fn("reattach")(function* (table: string) {
  const warehouse = yield* Warehouse
  // Reads of the table meanwhile (any tenant's) wait for it to be back (whileDetached).
  return yield* whileDetached(Effect.gen(function* () {
    yield* warehouse.command(`DETACH TABLE ${quoteId(table)} SYNC`)
    const deadline = Date.now() + REATTACH_WITHIN_MS
    let delay = 50
    while (true) {
      const attached = yield* Effect.exit(warehouse.command(`ATTACH TABLE ${quoteId(table)}`))
      if (attached._tag === "Success" || Date.now() > deadline) return yield* attached
      yield* Effect.sleep(Duration.millis(delay))
      delay = Math.min(delay * 2, 1_000)
    }
  }))
})

/** Drops every detached part of the tables (SQL cannot read them, so it cannot check them): returns how many. */
export const dropDetachedParts = Effect.fn("dropDetachedParts")(function* (tables: ReadonlyArray<string>) {
  const warehouse = yield* Warehouse
  const parts = yield* warehouse.query<{ table: string; name: string }>(
    "SELECT table, name FROM system.detached_parts WHERE database = currentDatabase() AND table IN {tables:Array(String)}",
    { params: { tables } })
  for (const p of parts) {
    yield* warehouse.command(`ALTER TABLE ${quoteId(p.table)} DROP DETACHED PART {name:String} SETTINGS allow_drop_detached = 1`, { name: p.name })
  }
  return parts.length
})

/** Every table of the database (views included) with its engine. */
export const listTables = Effect.fn("listTables")(function* () {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ name: string; engine: string }>(
    "SELECT name, engine FROM system.tables WHERE database = currentDatabase() AND NOT is_temporary ORDER BY name")
})

/**
 * How many rows of each stored table of the tenant hold one of the needles (as a whole token) in any text column, or,
 * in a column of `mail` (table to column: TableLocator.mail), inside a MIME encoding of the mail it holds.
 */
export const countMentions = Effect.fn("countMentions")(function* (
  tenant: string, needles: ReadonlyArray<string>, mail: ReadonlyMap<string, string> = new Map(),
) {
  const warehouse = yield* Warehouse
  const out: Array<{ table: string; rows: number }> = []
  if (needles.length === 0) return out
  const params = needleParams(needles)
  for (const t of yield* listTables()) {
    if (/View$/.test(t.engine) || t.name.startsWith("_erasure_")) continue
    const columns = yield* storedColumns(t.name)
    const where = containsNeedle(columns, needles.length)
    if (where === "0") continue
    // An alias no table's column has: ClickHouse resolves a name in WHERE to a SELECT alias first (a column "n").
    const counts = yield* overSlices(t.name, needles.length, (slice) => warehouse.query<{ __n: string }>(
      `${needleWith(columns, needles.length)}SELECT count() AS __n FROM ${quoteId(t.name)} ${slice.prewhere}` +
        `WHERE ${hasTenant(columns) ? WHERE_TENANT : ""}(${where})`,
      { params: { tenant, ...params, ...slice.params } }))
    const inMail = mail.has(t.name) ? (yield* mailMentionRows(t.name, columns, mail.get(t.name)!, tenant, needles)).length : 0
    const rows = counts.reduce((sum, c) => sum + Number(c.__n), 0) + inMail
    if (rows > 0) out.push({ table: t.name, rows })
  }
  return out
})

/** Makes sure a table drops outdated parts at once (tables made after migration 025 by other migrations). */
export const ensurePromptCleanup = Effect.fn("ensurePromptCleanup")(function* (table: string) {
  const warehouse = yield* Warehouse
  const [row] = yield* warehouse.query<{ engine_full: string }>(
    `SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = ${stringLiteral(table)}`)
  if (row === undefined || row.engine_full.includes("max_cleanup_delay_period = 1")) return
  yield* warehouse.command(`ALTER TABLE ${quoteId(table)} MODIFY SETTING ${PROMPT_CLEANUP_SETTINGS}`)
})

/** Rows of a tenant's table whose message id is one of these. */
export const countByMessageIds = Effect.fn("countByMessageIds")(function* (
  table: string, column: string, tenant: string, ids: ReadonlyArray<string>,
) {
  const warehouse = yield* Warehouse
  const [row] = yield* warehouse.query<{ __n: string }>(
    `SELECT count() AS __n FROM ${quoteId(table)} WHERE tenant = {tenant:String} AND ${quoteId(column)} IN {ids:Array(String)}`,
    { params: { tenant, ids } })
  return Number(row?.__n ?? 0)
})

/** Empties a table whole (a cache that is rebuilt from other tables). */
export const truncateTable = Effect.fn("truncateTable")(function* (table: string) {
  const warehouse = yield* Warehouse
  yield* warehouse.command(`TRUNCATE TABLE IF EXISTS ${quoteId(table)} SYNC`)
})
