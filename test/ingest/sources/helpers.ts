// Shared by the connector tests: where the dev data set is, a fixed import context, and collecting a source's items.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
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

export const tempFile = (name: string, content: string | Buffer): string => {
  const path = join(tempDir(), name)
  writeFileSync(path, content)
  return path
}

export const sorted = (values: Iterable<string>): Array<string> => [...values].sort()

/** Binary junk: every byte value, some NULs, no structure. */
export const BINARY_JUNK = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 37 + 11) % 256))
