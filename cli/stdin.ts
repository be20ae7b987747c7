// `cdp ingest --source NAME -` (or /dev/stdin): what comes on stdin is saved to a private temporary file first, then
// ingested as any file. Stdin must be read before the embedded engine opens, which sets it aside (warehouse/stdin.ts),
// and a saved file also gives the sources what they need of a file (its size, reading it twice). The copy is bounded
// (CDP_STDIN_MAX_BYTES) and removed whatever happens; what is said about the input names stdin, not the copy. A named
// pipe (mkfifo, a shell's <(...)) is read once as it comes, like stdin, and saved the same way.
import { constants, createWriteStream, mkdtempSync, openSync, rmSync, statSync } from "node:fs"
import { Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Readable, Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import { Data, Effect } from "effect"
import { EmptyInput, FileUnreadable, refuseUnreadableFile } from "../ingest/import.ts"
import { firstInvalidOffset } from "../ingest/utf8.ts"
import { foreignEncoding } from "../ingest/json-file.ts"
import { readSetting, SETTINGS } from "./config.ts"

const STDIN_PATHS = new Set(["-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"])

/** Whether a path names stdin. */
export const isStdinPath = (path: string): boolean => STDIN_PATHS.has(path)

/** Whether `path` is a named pipe (mkfifo, a shell's <(...)): read once, as its writer sends it, like stdin. */
export const isNamedPipe = (path: string): boolean => {
  try {
    return statSync(path).isFIFO()
  } catch {
    return false
  }
}

/** Stdin or a named pipe held more than `cdp ingest` may save of it (CDP_STDIN_MAX_BYTES). */
export class StdinTooLarge extends Data.TaggedError("StdinTooLarge")<{ readonly input: string; readonly limit: number }> {
  override get message() {
    return `${this.input} holds more than ${this.limit} bytes, the most cdp ingest saves of ${this.input === STDIN ? "it" : "a named pipe"} ` +
      "(CDP_STDIN_MAX_BYTES): give the file's path instead (read where it lies, not copied), or raise CDP_STDIN_MAX_BYTES"
  }
}

const STDIN = "stdin"

/**
 * A named pipe's read end, opened without waiting for a writer (O_NONBLOCK) and read by the event loop, as stdin is:
 * it still waits for a writer and reads until the last one closes, but a signal meanwhile stops cdp at once. Opened
 * the usual way, the open (and then each read) waited in Node's thread pool, which nothing interrupts and which the
 * process's exit waits for: stopped by SIGTERM, `cdp ingest` said so and stayed until kill -9.
 */
const openPipe = (path: string): Readable =>
  new Socket({ fd: openSync(path, constants.O_RDONLY | constants.O_NONBLOCK), readable: true, writable: false })

/** Saves `input` to `file`, failing with StdinTooLarge past `limit` bytes. */
const spool = async (input: Readable, name: string, file: string, limit: number, signal: AbortSignal): Promise<void> => {
  let seen = 0
  const bounded = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length
      done(seen > limit ? new StdinTooLarge({ input: name, limit }) : null, chunk)
    },
  })
  await pipeline(input, bounded, createWriteStream(file, { mode: 0o600 }), { signal })
}

/**
 * The path to read: a copy of stdin or of a named pipe (removed when the scope closes, or at once when saving it
 * fails) when `path` names one, else `path` itself. A copy that holds nothing, or text in a foreign encoding, is
 * refused here, naming stdin or the pipe.
 */
export const readableFile = (path: string) =>
  Effect.suspend(() => {
    const name = isStdinPath(path) ? STDIN : isNamedPipe(path) ? path : undefined
    if (name === undefined) return Effect.succeed(path)
    return Effect.gen(function* () {
      const limit = yield* readSetting(SETTINGS.stdinMaxBytes)
      const dir = yield* Effect.acquireRelease(
        Effect.try({ try: () => mkdtempSync(join(tmpdir(), "cdp-stdin-")), catch: (cause) => FileUnreadable.of(name, cause) }),
        (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true })),
      )
      const file = join(dir, "stdin")
      yield* Effect.tryPromise({
        try: (signal) => spool(name === STDIN ? process.stdin : openPipe(path), name, file, limit, signal),
        catch: (cause) => (cause instanceof StdinTooLarge ? cause : FileUnreadable.of(name, cause)),
      })
      yield* refuseUnreadableFile(file).pipe(Effect.mapError((e) =>
        e instanceof EmptyInput ? new EmptyInput({ path: name }) : new FileUnreadable({ path: name, reason: e.reason })))
      return file
    })
  })

/** Stdin held more than a statement may be. */
export class StdinStatementTooLarge extends Data.TaggedError("StdinStatementTooLarge")<{ readonly limit: number }> {
  override get message() {
    return `stdin holds more than ${this.limit} bytes, the most a statement may be (the engine's max_query_size)`
  }
}

/** Stdin held no statement (nothing, or only blanks). */
export class StdinStatementEmpty extends Data.TaggedError("StdinStatementEmpty")<{ readonly command: string }> {
  override get message() {
    return `stdin holds no statement: ${this.command} - reads the statement from stdin (e.g. echo "SELECT 1" | ${this.command} -)`
  }
}

/**
 * Stdin held bytes that are not UTF-8: refused, not decoded with U+FFFD (a query then ran on text nobody wrote). Text
 * that starts with a UTF-16 or UTF-32 byte order mark (PowerShell 5's pipe) is named as such.
 */
export class StdinStatementNotUtf8 extends Data.TaggedError("StdinStatementNotUtf8")<{
  readonly byte: number
  readonly offset: number
  readonly encoding: string | undefined
}> {
  override get message() {
    if (this.encoding !== undefined) {
      return `stdin is ${this.encoding} text, not UTF-8: save or pipe it as UTF-8 (e.g. iconv -f ${this.encoding} -t UTF-8)`
    }
    return `stdin is not valid UTF-8: byte 0x${this.byte.toString(16).padStart(2, "0")} at offset ${this.offset} does not belong to a ` +
      "UTF-8 sequence (write the statement as UTF-8, e.g. iconv -f latin1 -t utf-8)"
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

/** The statement's bytes as text, or StdinStatementNotUtf8 naming the first byte that is not UTF-8. */
const statementText = (bytes: Buffer): string => {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    const offset = firstInvalidOffset(bytes)
    throw new StdinStatementNotUtf8({ byte: bytes[offset] ?? 0, offset, encoding: foreignEncoding(bytes) })
  }
}

/**
 * A statement given as `-`: stdin's text, read whole before the embedded engine opens (which sets stdin aside), at
 * most `limit` bytes (read no further past it), UTF-8, and not blank.
 */
export const readStdinStatement = (limit: number, command: string) =>
  Effect.flatMap(
    Effect.tryPromise({
      try: async () => {
        const chunks: Array<Buffer> = []
        let size = 0
        for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
          size += chunk.length
          if (size > limit) {
            process.stdin.destroy()
            throw new StdinStatementTooLarge({ limit })
          }
          chunks.push(chunk)
        }
        return statementText(Buffer.concat(chunks))
      },
      catch: (cause) => (cause instanceof StdinStatementTooLarge || cause instanceof StdinStatementNotUtf8 ? cause : FileUnreadable.of(STDIN, cause)),
    }),
    (text) => (text.trim() === "" ? Effect.fail(new StdinStatementEmpty({ command })) : Effect.succeed(text)),
  )
