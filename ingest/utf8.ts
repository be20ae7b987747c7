// Text bodies are UTF-8: bytes that are not are refused with where they are, never replaced with U+FFFD (which
// would change what the sender sent without a word). And the one rule for control characters in free text.
import { isUtf8 } from "node:buffer"
import { type DeadLetter, type KeptEncoding, putField, type Rejection } from "./message.ts"

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const lenient = new TextDecoder("utf-8", { ignoreBOM: true })

/** Bytes read at a time looking for the first that is not UTF-8. */
const SCAN_CHUNK = 64 * 1024

/**
 * The offset of the first byte that is not UTF-8 (only called once the strict decoder has refused the bytes). Read a
 * chunk at a time up to the chunk the strict decoder refuses, so only about that chunk is decoded: a 64 MB file was
 * decoded whole to find its first such byte, a string of 128 MB (two bytes a character once a U+FFFD is in it).
 */
export const firstInvalidOffset = (bytes: Uint8Array): number => {
  const scan = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
  let from = 0
  while (from < bytes.length) {
    const end = Math.min(bytes.length, from + SCAN_CHUNK)
    try {
      scan.decode(bytes.subarray(from, end), { stream: end < bytes.length })
    } catch {
      break
    }
    from = end
  }
  // What came before `from` is UTF-8 but for a sequence its last 3 bytes may have begun: start 4 bytes back, at the
  // first byte of a character (a continuation byte is never more than 3 bytes after its character's first).
  let start = Math.max(0, from - 4)
  while (start > 0 && (bytes[start]! & 0xc0) === 0x80) start--
  return start + offsetInDecoded(bytes.subarray(start, Math.min(bytes.length, from + SCAN_CHUNK)))
}

/**
 * The offset of the first byte of `bytes` that is not UTF-8, by decoding them whole (for bytes the strict decoder
 * refused): firstInvalidOffset's answer for one chunk, and what its chunked reading must agree with.
 */
export const offsetInDecoded = (bytes: Uint8Array): number => {
  // Every U+FFFD before the first invalid sequence was a real one, written as EF BF BD: count bytes up to each.
  const text = lenient.decode(bytes)
  let byteOffset = 0
  let from = 0
  for (let at = text.indexOf("\uFFFD"); at !== -1; at = text.indexOf("\uFFFD", at + 1)) {
    byteOffset += Buffer.byteLength(text.slice(from, at))
    from = at + 1
    if (!(bytes[byteOffset] === 0xef && bytes[byteOffset + 1] === 0xbf && bytes[byteOffset + 2] === 0xbd)) return byteOffset
    byteOffset += 3
  }
  return byteOffset
}

/** The bytes as text, or a rejection naming the offset of the first byte that is not UTF-8. */
export const decodeUtf8 = (bytes: Uint8Array): string | Rejection => {
  try {
    return strict.decode(bytes)
  } catch {
    const offset = firstInvalidOffset(bytes)
    return {
      rule: "invalid_utf8",
      field: "",
      message: `the body is not valid UTF-8: byte 0x${(bytes[offset] ?? 0).toString(16).padStart(2, "0")} at offset ${offset} ` +
        "does not belong to a UTF-8 sequence (send text as UTF-8; bytes are refused rather than replaced)",
    }
  }
}

/**
 * How bytes received are kept where only text is stored (a dead letter's payload, an archived item's body): UTF-8 as
 * the text it is; anything else (a mail in windows-1252, an 8-bit MIME part, a line in another charset) as base64,
 * so every byte survives and can be given back. The one place that decides it, and the one that undoes it.
 */
export const keptAsText = (bytes: Buffer): { readonly text: string; readonly encoding: KeptEncoding } =>
  isUtf8(bytes) ? { text: bytes.toString("utf8"), encoding: "utf8" } : { text: bytes.toString("base64"), encoding: "base64" }

/** The bytes without a UTF-8 byte order mark (Excel, PowerShell, Notepad) at their start. */
export const withoutUtf8Bom = (bytes: Buffer): Buffer => (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes)

/** A dead letter's payload of these bytes: `payloadEncoding` only when base64 (a UTF-8 one is as it always was). */
export const keptPayload = (bytes: Buffer): Pick<DeadLetter, "payload" | "payloadEncoding"> => {
  const kept = keptAsText(bytes)
  return kept.encoding === "base64" ? { payload: kept.text, payloadEncoding: "base64" } : { payload: kept.text }
}

/** The bytes `keptAsText` kept (any encoding but base64 is text: a row stored before the marker existed is UTF-8). */
export const keptBytes = (text: string, encoding: unknown): Buffer =>
  encoding === "base64" ? Buffer.from(text, "base64") : Buffer.from(text, "utf8")

/**
 * Control characters: C0 but tab, line feed and carriage return, DEL, and C1 (U+0080-U+009F). Free text may hold
 * them as sent (a NUL from a C program's buffer, an escape sequence pasted from a terminal, C1 from text decoded with
 * the wrong charset), but the tools it goes on to do not take them: Postgres-based tools and CRMs refuse U+0000 in
 * text, and they break CSV exports.
 */
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/
const CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g
/**
 * Vertical tab and form feed break lines in older tools' exports (FileMaker, Excel), next line (U+0085) in text from
 * EBCDIC systems: they stay line breaks.
 */
const LINE_BREAKING = /[\u000b\u000c\u0085]/

/** Text as stored and scored: CONTROLS removed, a line-breaking one made a line feed; `removed` counts both. */
export const withoutControlCharacters = (text: string): { readonly text: string; readonly removed: number } => {
  if (!CONTROL.test(text)) return { text, removed: 0 }
  let removed = 0
  const clean = text.replace(CONTROLS, (c) => {
    removed++
    return LINE_BREAKING.test(c) ? "\n" : ""
  })
  return { text: clean, removed }
}

/**
 * `value` with every string in it, at any depth, as withoutControlCharacters makes it (names are left as they are):
 * the same value, allocating nothing, when none held one.
 */
export const withoutControlCharactersIn = <A>(value: A): { readonly value: A; readonly removed: number } => {
  let removed = 0
  const clean = (v: unknown): unknown => {
    if (typeof v === "string") {
      if (!CONTROL.test(v)) return v
      const c = withoutControlCharacters(v)
      removed += c.removed
      return c.text
    }
    if (v === null || typeof v !== "object") return v
    if (Array.isArray(v)) {
      let copy: Array<unknown> | undefined
      for (let i = 0; i < v.length; i++) {
        const c = clean(v[i])
        if (c !== v[i]) (copy ??= [...v])[i] = c
      }
      return copy ?? v
    }
    let copy: Record<string, unknown> | undefined
    const object = v as Record<string, unknown>
    for (const key in object) {
      const c = clean(object[key])
      if (c !== object[key]) putField(copy ??= { ...object }, key, c)
    }
    return copy ?? v
  }
  const cleaned = clean(value) as A
  return { value: cleaned, removed }
}
