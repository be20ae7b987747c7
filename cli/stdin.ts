// `cdp ingest --source NAME -` (or /dev/stdin): what comes on stdin is saved to a private temporary file first, then
// ingested as any file. Stdin must be read before the embedded engine opens, which sets it aside (warehouse/stdin.ts),
// and a saved file also gives the sources what they need of a file (its size, reading it twice).
import { createWriteStream, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pipeline } from "node:stream/promises"
import { Effect } from "effect"
import { FileUnreadable } from "../ingest/import.ts"

const STDIN_PATHS = new Set(["-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"])

/** Whether a path names stdin. */
export const isStdinPath = (path: string): boolean => STDIN_PATHS.has(path)

/** The path to read: a copy of stdin (removed when the scope closes) when `path` names it, else `path` itself. */
export const readableFile = (path: string) =>
  isStdinPath(path)
    ? Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const dir = mkdtempSync(join(tmpdir(), "cdp-stdin-"))
          const file = join(dir, "stdin")
          await pipeline(process.stdin, createWriteStream(file, { mode: 0o600 }))
          return file
        },
        catch: (cause) => FileUnreadable.of("stdin", cause),
      }),
      (file) => Effect.sync(() => rmSync(join(file, ".."), { recursive: true, force: true })),
    )
    : Effect.succeed(path)
