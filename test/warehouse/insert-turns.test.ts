// An insert's rows are encoded to JSON on cdp serve's one event loop: encoded at once, a batch of 10,000 event rows
// held every request for about 35-50 ms and one of 50,000 for 220-470 ms (a timer set as the insert started waited
// that long), so profile reads while batches landed had a p99 of ~78 ms against ~14 ms otherwise.
import { Effect } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

// Shaped as the pipeline's event rows (warehouse/sink.ts eventRow): ids, times, JSON objects read into String columns.
// Some carry text beyond ASCII (accents, emoji: a surrogate pair) so that slices of the body meet them.
const eventRows = (n: number) => Array.from({ length: n }, (_, i) => ({
  n: i,
  message_id: `m-${i}`,
  user_id: `user-${i % 1013}`,
  timestamp: `2026-11-${String(1 + (i % 28)).padStart(2, "0")} 10:00:00.${String(i % 1000).padStart(3, "0")}`,
  properties: { order_id: `o-${i}`, revenue: 12.5 + i, currency: "EUR", note: i % 7 === 0 ? `Crème brûlée 🍮 ${i}` : "", products: [{ sku: `s-${i % 50}`, qty: 1 }] },
  context: {
    ip: "10.0.0.1", locale: "fr-FR", timezone: "Europe/Paris",
    userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    library: { name: "analytics.js", version: "5.2.1" },
    page: { path: "/checkout", referrer: `https://search.example.test/?q=order+${i}`, search: "?step=2", title: "Checkout", url: `https://shop.example.test/checkout?step=2&cart=${i}` },
    campaign: { name: "winter", source: "newsletter", medium: "email", content: `variant-${i % 3}` },
    screen: { width: 1920, height: 1080, density: 1 },
  },
  identifiers: [{ kind: "email", value: `u${i % 1013}@example.test` }],
}))

it("a 20,000-row insert gives the event loop turns while it encodes, and its rows land as given, in order", () =>
  withEmbeddedWarehouse(dir, Effect.gen(function* () {
    const w = yield* Warehouse
    // A Log table keeps rows in the order they arrived, so the order of the body is seen too.
    yield* w.command(`CREATE TABLE landed (n UInt32, message_id String, user_id String, timestamp DateTime64(3, 'UTC'),
      properties String, context String, identifiers Array(Tuple(kind String, value String))) ENGINE = Log`)
    const rows = eventRows(20_000)
    // Landed once before the measured insert, so that its time is the insert's, not the first compilation of the code.
    yield* w.insert("landed", rows)
    yield* w.command("TRUNCATE TABLE landed")
    // How far the encoding had got when a timer set as the insert started fired: counted by each row's toJSON, which
    // JSON.stringify calls. Rows, not milliseconds, so that a loaded machine cannot make it pass or fail.
    let encoded = 0
    const counted = rows.map((row) => Object.defineProperty({ ...row }, "toJSON", { value: () => { encoded++; return row } }))
    let encodedWhenFired = -1
    const started = performance.now()
    let firedAfter = -1
    setTimeout(() => { encodedWhenFired = encoded; firedAfter = performance.now() - started }, 0)
    yield* w.insert("landed", counted)
    // Before: 20,000 (every row encoded, and the body turned into bytes, before any timer ran). After: those of the
    // first slices of a few milliseconds.
    expect(encoded).toBe(rows.length)
    expect(encodedWhenFired, `rows encoded when the timer fired (after ${firedAfter.toFixed(1)} ms)`).toBeLessThan(rows.length)

    const landed = yield* w.query("SELECT n, message_id, user_id, timestamp, properties, context, identifiers FROM landed")
    expect(landed).toEqual(rows.map((sent) => ({
      ...sent, properties: JSON.stringify(sent.properties), context: JSON.stringify(sent.context),
    })))
  })), 120_000)
