// Reads one mail's HTML as text in a worker thread (ingest/sources/email-html.ts starts it): mailparser's html-to-text
// wraps lines in time that grows faster than the HTML, so a large part is read here, off the collector's event loop.
// It loads mailparser only, never chdb or the warehouse (RECIPES.md A2).
import { parentPort, workerData } from "node:worker_threads"
import { simpleParser } from "mailparser"

const port = parentPort
if (port === null) throw new Error("ingest/sources/email-html-worker.ts runs as a worker thread (see email-html.ts)")

const { raw, options } = workerData as { raw: Uint8Array; options: Record<string, unknown> }
simpleParser(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), options).then(
  (mail) => port.postMessage({ text: mail.text ?? "" }),
  (error: unknown) => port.postMessage({ text: "", parseError: error instanceof Error ? error.message : String(error) }),
)
