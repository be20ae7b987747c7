// Mail text that is not what its part declares. mailparser reads a part declared UTF-8, US-ASCII or nothing with
// Buffer.toString() (mail-parser.js decodes only other charsets, through libmime), so Latin-1 / Windows-1252 bytes,
// which old clients and scripts send under those labels, become U+FFFD, and it offers no hook to the part's bytes.
// Here the message is split again with mailparser's own MIME splitter (@zone-eu/mailsplit, as mailparser loads it),
// and a text part whose bytes are not UTF-8 is read as Windows-1252 (WHATWG's reading of Latin-1 labels too).
// Also a multipart message whose boundary never appears: mailparser gives no text, the body is taken as text.
import { isUtf8 } from "node:buffer"
// mailparser's own copies, so the MIME reading is the one that made `mail.text`.
import { libmime, type MimeNode, splitMime, transferDecoded } from "../../warehouse/mail-mime.ts"

/** The labels mailparser reads as UTF-8 (it decodes every other charset itself). */
const READ_AS_UTF8 = new Set(["", "ascii", "usascii", "utf8"])
const WINDOWS_1252 = new TextDecoder("windows-1252")

interface Part {
  readonly node: MimeNode
  readonly chunks: Array<Buffer>
}

/** The message's leaf parts with their bodies (still transfer-encoded), and its root. */
const splitParts = async (raw: Buffer): Promise<{ readonly root: MimeNode | undefined; readonly parts: ReadonlyArray<Part> }> => {
  const parts: Array<Part> = []
  const partOf = new Map<MimeNode, Part>()
  let root: MimeNode | undefined
  await splitMime(raw, undefined, (chunk) => {
    if (chunk.type === "node") {
      root ??= chunk
      const part = { node: chunk, chunks: [] }
      parts.push(part)
      partOf.set(chunk, part)
    } else {
      partOf.get(chunk.node)?.chunks.push(chunk.value)
    }
  })
  return { root, parts }
}

/** A text part's bytes as mailparser decodes them before reading them as text: transfer encoding, then format=flowed. */
const contentBytes = (node: MimeNode, body: Buffer): Buffer => {
  const bytes = transferDecoded(node.encoding, body)
  // As mailsplit's FlowedDecoder: the lines are unfolded byte for byte ("binary"), whatever the charset.
  return node.flowed ? Buffer.from(libmime().decodeFlowed(bytes.toString("binary"), node.delSp), "binary") : bytes
}

/** As mailparser ends a text part's content (mail-parser.js: toString(), then CRLF to LF). */
const asMailparserText = (text: string): string => text.replace(/\r?\n/g, "\n")

export interface RepairedText {
  readonly text: string
  /** The text of a part was read as Windows-1252: its bytes were not the UTF-8 (or ASCII) it declared. */
  readonly decodedAs?: "windows-1252"
  /** A part's bytes were not valid in its declared charset, and its text could not be mended (U+FFFD stay in it). */
  readonly invalid?: true
  /** The message is multipart but none of its parts was found (the boundary never appears): its body is the text. */
  readonly boundaryMissing?: true
}

/**
 * The text mailparser made of `raw` (`text`), mended: a text/plain part read as UTF-8 whose bytes are not UTF-8 is read
 * as Windows-1252 instead; a multipart message without parts gives its body. Text with no U+FFFD, and no text beside
 * other content, are returned as they are, not split again: a valid UTF-8 message costs one scan for U+FFFD.
 */
export const repairedMailText = async (raw: Buffer, text: string, otherContent: boolean): Promise<RepairedText> => {
  // `otherContent`: HTML or attachments, so parts were found (a mail of attachments is not split again for nothing).
  if (!text.includes("\uFFFD") && (text !== "" || otherContent)) return { text }
  const { root, parts } = await splitParts(raw)
  if (root === undefined) return { text }
  if (text === "" && !otherContent && root.multipart !== false && parts.length === 1) {
    const body = Buffer.concat(parts[0]!.chunks)
    const read = isUtf8(body) ? body.toString("utf8") : WINDOWS_1252.decode(body)
    return read.trim() === "" ? { text } : { text: asMailparserText(read), boundaryMissing: true }
  }
  let mended = text
  let decodedAs = false
  let invalid = false
  for (const { node, chunks } of parts) {
    const type = node.contentType || "text/plain"
    if (node.multipart !== false || (type !== "text/plain" && type !== "text/html")) continue
    if (!READ_AS_UTF8.has(String(node.charset || "").toLowerCase().replace(/[^a-z0-9]+/g, ""))) continue
    const bytes = contentBytes(node, Buffer.concat(chunks))
    if (isUtf8(bytes)) continue
    // HTML's text is html-to-text's, not its bytes': not mended here, said.
    if (type === "text/html") {
      invalid = true
      continue
    }
    const asRead = asMailparserText(bytes.toString("utf8"))
    const at = mended.indexOf(asRead)
    if (at === -1) {
      invalid = true
      continue
    }
    mended = mended.slice(0, at) + asMailparserText(WINDOWS_1252.decode(bytes)) + mended.slice(at + asRead.length)
    decodedAs = true
  }
  return { text: mended, ...(decodedAs ? { decodedAs: "windows-1252" as const } : {}), ...(invalid ? { invalid: true as const } : {}) }
}
