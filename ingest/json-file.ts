// JSON a person keeps in a file (an audience condition, CDP_DESTINATIONS=@FILE), read as editors on every system
// save it: a UTF-8 byte order mark (Notepad, PowerShell's `Out-File -Encoding utf8`) is no part of the JSON (RFC 8259
// lets a parser ignore it) and is dropped; a file in UTF-16 or UTF-32 (PowerShell 5's `>`), a directory, a file too
// big to be a setting or bytes that are not UTF-8 are named as such, in one line, rather than parsed as garbage.
import { readFileSync, statSync } from "node:fs"
import { Data } from "effect"
import { decodeUtf8, withoutUtf8Bom } from "./utf8.ts"

/** Far more than any condition or destination list; a file bigger than this is not one (a data file given by mistake). */
export const MAX_JSON_FILE_BYTES = 8 * 1024 * 1024

/** Why a JSON file cannot be read as text, in one line (`cannot read PATH: ...`). */
export class JsonFileUnreadable extends Data.TaggedError("JsonFileUnreadable")<{ readonly path: string; readonly reason: string }> {
  override get message() {
    return `cannot read ${this.path}: ${this.reason}`
  }
}

// Byte order marks of encodings other than UTF-8; UTF-32 LE first, since it starts with UTF-16 LE's.
const FOREIGN_BOMS: ReadonlyArray<readonly [string, ReadonlyArray<number>]> = [
  ["UTF-32", [0xff, 0xfe, 0x00, 0x00]], ["UTF-32", [0x00, 0x00, 0xfe, 0xff]], ["UTF-16", [0xff, 0xfe]], ["UTF-16", [0xfe, 0xff]],
]

/** "UTF-16" or "UTF-32" when the bytes start with that encoding's byte order mark, else undefined. */
export const foreignEncoding = (bytes: Uint8Array): string | undefined =>
  FOREIGN_BOMS.find(([, bom]) => bom.every((b, i) => bytes[i] === b))?.[0]

const readBytes = (path: string): Buffer | JsonFileUnreadable => {
  try {
    const stat = statSync(path)
    if (stat.isDirectory()) return new JsonFileUnreadable({ path, reason: "it is a directory, not a file" })
    if (stat.size > MAX_JSON_FILE_BYTES) return new JsonFileUnreadable({ path, reason: `it holds ${stat.size} bytes, more than a JSON setting may (${MAX_JSON_FILE_BYTES})` })
    return readFileSync(path)
  } catch (e) {
    return new JsonFileUnreadable({ path, reason: (e as NodeJS.ErrnoException).code ?? (e as Error).message })
  }
}

/** The file's text without a UTF-8 byte order mark, or why it cannot be read as UTF-8 text. */
export const readJsonFileText = (path: string): string | JsonFileUnreadable => {
  const bytes = readBytes(path)
  if (bytes instanceof JsonFileUnreadable) return bytes
  const encoding = foreignEncoding(bytes)
  if (encoding !== undefined) return new JsonFileUnreadable({ path, reason: `it is ${encoding} text; save it as UTF-8` })
  const text = decodeUtf8(withoutUtf8Bom(bytes))
  if (typeof text !== "string") return new JsonFileUnreadable({ path, reason: text.message })
  return text
}
