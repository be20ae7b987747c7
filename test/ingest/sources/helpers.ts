// Shared by the connector tests: where the dev data set is, a fixed import context, and collecting a source's items.
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { once } from "node:events"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type { CanonicalEvent, DeadLetter } from "../../../ingest/message.ts"
import type { ImportContext, ImportedItem } from "../../../ingest/sources/index.ts"
import { SIGNALS_DEV } from "../../support/shared.ts"

/** The committed development set (tests may read it; the product never needs it). */
export const DEV = process.env["CDP_SIGNALS_DEV"] ?? SIGNALS_DEV

export const RECEIVED_AT_MS = Date.UTC(2025, 0, 15, 12, 0, 0)

export const context = (extra: Partial<ImportContext> = {}): ImportContext =>
  ({ tenant: "acme", receivedAtMs: RECEIVED_AT_MS, ...extra })

export interface Collected {
  readonly events: Array<CanonicalEvent>
  readonly deadLetters: Array<DeadLetter>
}

export const split = (items: Iterable<ImportedItem>): Collected => {
  const events: Array<CanonicalEvent> = []
  const deadLetters: Array<DeadLetter> = []
  for (const item of items) {
    if (item._tag === "event") events.push(item.event)
    else deadLetters.push(item.deadLetter)
  }
  return { events, deadLetters }
}

export const collect = async (items: AsyncIterable<ImportedItem>): Promise<Collected> => {
  const all: Array<ImportedItem> = []
  for await (const item of items) all.push(item)
  return split(all)
}

/** `collect`, with what reading the items added to the process's resident memory (a reader must not hold a file). */
export const collectMeasured = async (items: AsyncIterable<ImportedItem>): Promise<Collected & { readonly rssGrowth: number }> => {
  const started = process.memoryUsage().rss
  const collected = await collect(items)
  return { ...collected, rssGrowth: process.memoryUsage().rss - started }
}

export const MB = 1024 * 1024

/**
 * A file past a size limit, written without holding it in memory: `head`, then blocks of 1 MB filled with `fill`
 * (repeated, cut at the block's end) until at least `bytes` of them are written, then `tail`.
 */
export const writeBigFile = async (file: string, head: string, bytes: number, tail: string, fill = "a"): Promise<void> => {
  const out = createWriteStream(file)
  out.write(head)
  const block = Buffer.alloc(MB, fill)
  for (let written = 0; written < bytes; written += block.length) if (!out.write(block)) await once(out, "drain")
  out.end(tail)
  await once(out, "finish")
}

interface TruthItem {
  readonly item_id: string
  readonly channel: string
  readonly source: string
  readonly person_id: string
}

let truth: ReadonlyArray<TruthItem> | undefined

/** Item ids of truth/items.ndjson whose source file passes `source`. */
export const truthIds = (source: (file: string) => boolean): Array<string> => {
  truth ??= readFileSync(join(DEV, "truth/items.ndjson"), "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as TruthItem)
  return truth.filter((t) => source(t.source)).map((t) => t.item_id)
}

export const truthChannels = (source: (file: string) => boolean): Set<string> => {
  truthIds(() => false)
  return new Set(truth!.filter((t) => source(t.source)).map((t) => t.channel))
}

/** A fresh temp dir per call, so tests never share files. */
export const tempDir = (): string => mkdtempSync(join(tmpdir(), "cdp-sources-"))

/** Runs `test` with the path of a file `name` in a fresh temp dir, removed (with all it holds) after. */
export const inTempDir = async <A>(name: string, test: (file: string) => Promise<A>): Promise<A> => {
  const dir = tempDir()
  try {
    return await test(join(dir, name))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export const tempFile = (name: string, content: string | Buffer): string => {
  const path = join(tempDir(), name)
  writeFileSync(path, content)
  return path
}

export const sorted = (values: Iterable<string>): Array<string> => [...values].sort()

/** Binary junk: every byte value, some NULs, no structure. */
export const BINARY_JUNK = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 37 + 11) % 256))
