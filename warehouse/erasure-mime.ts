// Cuts a subject's identifiers out of another person's raw mail where only a MIME decoding shows them (consent/erasure.ts):
// a base64 or quoted-printable text part, an RFC 2047 encoded-word in a header, a forwarded message's own. What names
// them is decoded, cut as kept bytes are (redactBytes, in the part's or word's charset) and encoded again as it was
// (its transfer encoding, line length and line ends; the word's charset and B or Q); every other byte stays. The mail
// is split with mailparser's own MIME splitter (@zone-eu/mailsplit), which gives each node's header bytes back as they
// were; it is joined by hand, not by mailsplit's Rewriter (which ends a part it rewrites with a bare LF).
import { FORWARDS_READ, redactBytes } from "./erasure.ts"
// mailparser's own copies, so the MIME reading is the one that found the subject (decodedMailText).
import { libbase64, libqp, type MimeNode, splitMime, transferDecoded } from "./mail-mime.ts"

/** A stretch of the raw mail: a node's headers, its body (still transfer-encoded), or multipart framing. */
interface Piece {
  readonly kind: "head" | "body" | "data"
  readonly node: MimeNode
  readonly bytes: Buffer
}

/**
 * The mail in pieces, in order (a body's chunks joined). A forwarded message (message/rfc822) is one body, cut as a
 * mail of its own (redactForwarded), so its parts are reached whatever its transfer encoding.
 */
const splitMail = async (raw: Buffer): Promise<Array<Piece>> => {
  const pieces: Array<Piece> = []
  await splitMime(raw, { ignoreEmbedded: true }, (chunk) => {
    if (chunk.type === "node") return pieces.push({ kind: "head", node: chunk, bytes: chunk.getHeaders() })
    const last = pieces[pieces.length - 1]
    if (chunk.type === "body" && last?.kind === "body" && last.node === chunk.node) {
      pieces[pieces.length - 1] = { ...last, bytes: Buffer.concat([last.bytes, chunk.value]) }
    } else pieces.push({ kind: chunk.type, node: chunk.node, bytes: chunk.value })
  })
  return pieces
}

/**
 * `raw` with every whole-token occurrence of the needles cut inside its transfer-encoded text parts, its headers'
 * encoded-words and its forwarded messages (up to FORWARDS_READ deep); the same bytes where none is there. Plain text
 * outside an encoding is not cut here (the caller cuts the whole mail as kept bytes first). Undefined when the mail
 * cannot be split back into its own bytes, or a word that names them is in a charset whose words cannot be cut.
 */
export const redactMimeMail = async (raw: Buffer, needles: ReadonlyArray<string>, depth = 0): Promise<Buffer | undefined> => {
  const pieces = await splitMail(raw).catch(() => undefined)
  if (pieces === undefined || !Buffer.concat(pieces.map((p) => p.bytes)).equals(raw)) return undefined
  const out: Array<Buffer> = []
  for (const piece of pieces) {
    const bytes = piece.kind === "head" ? redactEncodedWords(piece.bytes, needles)
      : piece.kind === "body" ? await redactBody(piece.node, piece.bytes, needles, depth)
      : piece.bytes
    if (bytes === undefined) return undefined
    out.push(bytes)
  }
  return Buffer.concat(out)
}

const TRANSFER_ENCODED = new Set(["base64", "quoted-printable"])

/** A leaf part's body with the needles cut: a transfer-encoded text part's, or a forwarded message's; others as they are. */
const redactBody = async (node: MimeNode, body: Buffer, needles: ReadonlyArray<string>, depth: number): Promise<Buffer | undefined> => {
  const type = node.contentType || "text/plain"
  const encoding = node.encoding || ""
  const forwarded = /^message\/(rfc822|global)$/.test(type)
  if (forwarded ? depth >= FORWARDS_READ : !type.startsWith("text/") || !TRANSFER_ENCODED.has(encoding)) return body
  const content = transferDecoded(encoding, body)
  // A forwarded message's plain text is cut with it when it is not encoded; inside an encoding, here.
  const cut = forwarded ? await redactMimeMail(redactBytes(content, needles), needles, depth + 1)
    : redactBytes(content, needles, node.charset ? [node.charset] : [])
  if (cut === undefined) return undefined
  return cut.equals(content) ? body : transferEncoded(encoding, cut, body)
}

/** A base64 line of mail (RFC 2045: at most 76 characters). */
const BASE64_WIDTH = 76

/**
 * `content` in the transfer encoding `original` was written in, as it was written: the same line ends (CRLF or LF), a
 * base64 body in lines as long as its first, ending with the line ends it ended with (those before the next boundary);
 * quoted-printable keeps the content's own line ends and breaks longer lines softly at 76.
 */
const transferEncoded = (encoding: string, content: Buffer, original: Buffer): Buffer => {
  const text = original.toString("latin1")
  const eol = text.includes("\r\n") ? "\r\n" : "\n"
  if (encoding === "quoted-printable") {
    const qp = libqp().wrap(libqp().encode(content), 76)
    return Buffer.from(eol === "\n" ? qp.replace(/=\r\n/g, "=\n") : qp, "latin1")
  }
  if (encoding !== "base64") return content
  const trailing = /[\r\n]*$/.exec(text)![0]
  const lines = text.slice(0, text.length - trailing.length).split(/\r?\n/)
  const width = lines.length > 1 ? Math.max(4, lines[0]!.length) : Math.max(BASE64_WIDTH, lines[0]!.length)
  const encoded = libbase64().encode(content)
  const out: Array<string> = []
  for (let i = 0; i < encoded.length; i += width) out.push(encoded.slice(i, i + width))
  return Buffer.from(out.join(eol) + trailing, "latin1")
}

/** An RFC 2047 encoded-word: charset (an RFC 2231 language after `*` kept with it), B or Q, text. */
const ENCODED_WORD = /=\?([^?\s*]+)((?:\*[^?\s]*)?)\?([bq])\?([^?\s]*)\?=/gi
/** What may stand between two encoded-words of one run (ignored by a reader): spaces, a folded line. */
const BETWEEN_WORDS = /^[ \t]*(?:\r?\n)?[ \t]+$|^$/
/** The longest encoded-word RFC 2047 allows. */
const WORD_WIDTH = 75

interface Word {
  readonly at: number
  readonly end: number
  readonly charset: string
  readonly language: string
  /** B or Q, in the case it was written in. */
  readonly encoding: string
  readonly b: boolean
  readonly text: string
}

/**
 * A node's header bytes with the needles cut inside encoded-words: each run of adjacent words of one charset and
 * encoding (an address may be split across them) is decoded to bytes, cut, and encoded again in that charset and B or
 * Q, as one word when it was one. Undefined when a run that names them cannot be split into words again (a charset of
 * more than one byte a character, other than UTF-8).
 */
const redactEncodedWords = (head: Buffer, needles: ReadonlyArray<string>): Buffer | undefined => {
  const text = head.toString("latin1")
  const words: Array<Word> = [...text.matchAll(ENCODED_WORD)].map((m) => ({
    at: m.index, end: m.index + m[0].length, charset: m[1]!, language: m[2]!, encoding: m[3]!, b: m[3]!.toLowerCase() === "b", text: m[4]!,
  }))
  let out = ""
  let from = 0
  for (let i = 0; i < words.length;) {
    const run = [words[i]!]
    while (i + run.length < words.length) {
      const next = words[i + run.length]!
      const last = run[run.length - 1]!
      if (next.charset.toLowerCase() !== last.charset.toLowerCase() || next.b !== last.b || !BETWEEN_WORDS.test(text.slice(last.end, next.at))) break
      run.push(next)
    }
    i += run.length
    const bytes = Buffer.concat(run.map(wordBytes))
    const cut = redactBytes(bytes, needles, [run[0]!.charset])
    if (cut.equals(bytes)) continue
    const again = encodeWords(cut, run, text.slice(run[0]!.end, run[1]?.at ?? run[0]!.end))
    if (again === undefined) return undefined
    out += text.slice(from, run[0]!.at) + again
    from = run[run.length - 1]!.end
  }
  return from === 0 ? head : Buffer.from(out + text.slice(from), "latin1")
}

const wordBytes = (w: Word): Buffer => w.b
  ? Buffer.from(w.text, "base64")
  : Buffer.from(w.text.replace(/_/g, " ").replace(/=([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), "latin1")

/** What Q writes as it is (RFC 2047 5(3), in a phrase): letters, digits and `!*+-/`. */
const Q_LITERAL = /[A-Za-z0-9!*+\-/]/

/** Q's text for bytes: Q_LITERAL as they are, a space as `_`, every other byte `=XX`. */
const qText = (bytes: Buffer): string => [...bytes].map((b) => {
  const c = String.fromCharCode(b)
  return b === 0x20 ? "_" : Q_LITERAL.test(c) ? c : `=${b.toString(16).toUpperCase().padStart(2, "0")}`
}).join("")

/** The charsets whose bytes a run of encoded-words can be split between (one byte a character, or UTF-8). */
const SPLITTABLE = /^(us-ascii|ascii|utf-?8|iso-8859-\d+|latin\d?|windows-125\d|cp125\d|koi8-[ru])$/i

/**
 * Cut bytes as encoded-words like `run`'s: its charset (and language) and encoding; one word when the run was one,
 * else words of at most WORD_WIDTH joined by what stood between its first two, split only between characters (UTF-8's
 * continuation bytes stay with their lead). Undefined when that split cannot be made (a charset of several bytes a
 * character other than UTF-8).
 */
const encodeWords = (bytes: Buffer, run: ReadonlyArray<Word>, between: string): string | undefined => {
  const { charset, language, encoding, b } = run[0]!
  const word = (chunk: Buffer) => `=?${charset}${language}?${encoding}?${b ? chunk.toString("base64") : qText(chunk)}?=`
  if (run.length === 1) return word(bytes)
  if (!SPLITTABLE.test(charset)) return undefined
  const utf8 = /^utf-?8$/i.test(charset)
  const words: Array<string> = []
  let start = 0
  while (start < bytes.length) {
    let end = start + 1
    while (end < bytes.length) {
      let next = end + 1
      while (utf8 && next < bytes.length && (bytes[next]! & 0xc0) === 0x80) next++
      if (word(bytes.subarray(start, next)).length > WORD_WIDTH) break
      end = next
    }
    while (utf8 && end < bytes.length && (bytes[end]! & 0xc0) === 0x80) end++
    words.push(word(bytes.subarray(start, end)))
    start = end
  }
  return words.join(between)
}
