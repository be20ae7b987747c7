// The registry of file sources `cdp ingest --source NAME` understands. Each turns a file into canonical events and
// dead letters; the rest of the pipeline is the same for all of them.
import type { CanonicalEvent, DeadLetter } from "../message.ts"
import { readSegmentFile } from "./segment-file.ts"

export type ImportedItem =
  | { readonly _tag: "event"; readonly event: CanonicalEvent }
  | { readonly _tag: "deadLetter"; readonly deadLetter: DeadLetter }

export interface ImportContext {
  readonly tenant: string
  readonly receivedAtMs: number
  /** Called with the number of bytes consumed so far, for progress bars. */
  readonly onProgress?: (bytesRead: number) => void
}

export interface FileSource {
  readonly name: string
  readonly description: string
  readonly read: (path: string, ctx: ImportContext) => AsyncIterable<ImportedItem>
}

export const FILE_SOURCES: ReadonlyMap<string, FileSource> = new Map([
  ["segment", { name: "segment", description: "NDJSON of Segment messages, one per line", read: readSegmentFile }],
])
