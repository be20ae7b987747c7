// Text bodies are UTF-8: bytes that are not are refused with where they are, never replaced with U+FFFD (which
// would change what the sender sent without a word).
import type { Rejection } from "./message.ts"

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const lenient = new TextDecoder("utf-8", { ignoreBOM: true })

/** The offset of the first byte that is not UTF-8 (only called once the strict decoder has refused the bytes). */
const firstInvalidOffset = (bytes: Uint8Array): number => {
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
