// An insert's rows as JSONEachRow text, encoded a slice at a time with a turn of the event loop between slices. Given
// an array, @clickhouse/client encodes every row at once: on cdp serve's one event loop that held every request about
// 35-50 ms per 10,000 event rows (220-470 ms for 50,000).
import { nextTurn } from "./turns.ts"

/** How long rows are encoded before the event loop gets a turn. */
const ENCODE_SLICE_MS = 5

/**
 * Rows already encoded: their JSON texts joined by newlines, without the last one (the client adds it). The client's
 * stringify (CLIENT_JSON) passes them through, so the body is byte for byte what the client would have written.
 */
export class EncodedRows {
  readonly text: string
  constructor(text: string) {
    this.text = text
  }
}

/**
 * `rows` encoded in slices of about ENCODE_SLICE_MS, in order. A row JSON.stringify cannot encode (a BigInt, a cycle,
 * nesting deeper than the stack) throws as it would in the client, before anything is sent.
 */
export const encodeInSlices = async (rows: ReadonlyArray<unknown>): Promise<Array<EncodedRows>> => {
  const slices: Array<EncodedRows> = []
  let lines: Array<string> = []
  let sliceStarted = performance.now()
  for (let i = 0; i < rows.length; i++) {
    lines.push(JSON.stringify(rows[i]))
    if ((i & 15) === 15 && performance.now() - sliceStarted >= ENCODE_SLICE_MS) {
      slices.push(new EncodedRows(lines.join("\n")))
      lines = []
      await nextTurn()
      sliceStarted = performance.now()
    }
  }
  if (lines.length > 0) slices.push(new EncodedRows(lines.join("\n")))
  return slices
}

/** The client's JSON handling: EncodedRows pass through as their text, everything else is JSON.stringify's. */
export const CLIENT_JSON = {
  stringify: (value: unknown): string => (value instanceof EncodedRows ? value.text : JSON.stringify(value)),
}
