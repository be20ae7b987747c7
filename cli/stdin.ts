// `cdp ingest --source NAME -` (or /dev/stdin): what comes on stdin is saved to a private temporary file first, then
// ingested as any file. Stdin must be read before the embedded engine opens, which sets it aside (warehouse/stdin.ts),
// and a saved file also gives the sources what they need of a file (its size, reading it twice). The copy is bounded
// (CDP_STDIN_MAX_BYTES) and removed whatever happens; what is said about the input names stdin, not the copy.
import { createWriteStream, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import { Data, Effect } from "effect"
import { EmptyInput, FileUnreadable, refuseUnreadableFile } from "../ingest/import.ts"
import { readSetting, SETTINGS } from "./config.ts"

const STDIN_PATHS = new Set(["-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"])

/** Whether a path names stdin. */
export const isStdinPath = (path: string): boolean => STDIN_PATHS.has(path)

/** Stdin held more than `cdp ingest` may save of it (CDP_STDIN_MAX_BYTES). */
export class StdinTooLarge extends Data.TaggedError("StdinTooLarge")<{ readonly limit: number }> {
  override get message() {
    return `stdin holds more than ${this.limit} bytes, the most cdp ingest saves of it (CDP_STDIN_MAX_BYTES): ` +
      "give the file's path instead (read where it lies, not copied), or raise CDP_STDIN_MAX_BYTES"
  }
}

const STDIN = "stdin"

/** Saves stdin to `file`, failing with StdinTooLarge past `limit` bytes. */
const spool = async (file: string, limit: number): Promise<void> => {
  let seen = 0
  const bounded = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length
      done(seen > limit ? new StdinTooLarge({ limit }) : null, chunk)
    },
  })
  await pipeline(process.stdin, bounded, createWriteStream(file, { mode: 0o600 }))
}

/**
 * The path to read: a copy of stdin (removed when the scope closes, or at once when saving it fails) when `path`
 * names it, else `path` itself. A copy that holds nothing, or text in a foreign encoding, is refused here, naming stdin.
 */
export const readableFile = (path: string) =>
  isStdinPath(path)
    ? Effect.gen(function* () {
      const limit = yield* readSetting(SETTINGS.stdinMaxBytes)
      const dir = yield* Effect.acquireRelease(
        Effect.try({ try: () => mkdtempSync(join(tmpdir(), "cdp-stdin-")), catch: (cause) => FileUnreadable.of(STDIN, cause) }),
        (d) => Effect.sync(() => rmSync(d, { recursive: true, force: true })),
      )
      const file = join(dir, "stdin")
      yield* Effect.tryPromise({
        try: () => spool(file, limit),
        catch: (cause) => (cause instanceof StdinTooLarge ? cause : FileUnreadable.of(STDIN, cause)),
      })
      yield* refuseUnreadableFile(file).pipe(Effect.mapError((e) =>
        e instanceof EmptyInput ? new EmptyInput({ path: STDIN }) : new FileUnreadable({ path: STDIN, reason: e.reason })))
      return file
    })
    : Effect.succeed(path)

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
 * A statement given as `-`: stdin's text, read whole before the embedded engine opens (which sets stdin aside), at
 * most `limit` bytes (read no further past it), and not blank.
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
        return new TextDecoder().decode(Buffer.concat(chunks))
      },
      catch: (cause) => (cause instanceof StdinStatementTooLarge ? cause : FileUnreadable.of(STDIN, cause)),
    }),
    (text) => (text.trim() === "" ? Effect.fail(new StdinStatementEmpty({ command })) : Effect.succeed(text)),
  )
