// `cdp ingest`'s summary counts what the pipeline refused after the source's checks (a stage or the warehouse) as
// rejected, with the hint to see why, instead of calling it accepted.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Logger } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { backendConfig, warehouseLayer } from "../../cli/layers.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { runCdp } from "../support/cli.ts"
import { landed } from "../support/landed.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const line = (messageId: string) => JSON.stringify({ type: "track", event: "Order Completed", userId: "u1", messageId })

describe("cdp ingest's summary", () => {
  it("counts messages the warehouse refused after they were accepted as rejected, and says where to see why", async () => {
    const data = join(dir, "data")
    // The data dir with its tables (opening the warehouse migrates it), and a rule in the warehouse that refuses one
    // message the source's checks pass.
    await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const warehouse = yield* Warehouse
      yield* warehouse.command("ALTER TABLE event_rows ADD CONSTRAINT refuse_one CHECK message_id != 'refused-by-warehouse'")
    })).pipe(Effect.provide(warehouseLayer(backendConfig(data))), Effect.provide(Logger.layer([]))))

    const file = join(dir, "orders.ndjson")
    writeFileSync(file, [line("m1"), line("refused-by-warehouse"), line("m3")].join("\n"))
    const r = runCdp(["ingest", "--source", "segment", file, "--data-dir", data])
    expect(r.stderr).toBe("")
    expect(r.stdout).toContain("2 accepted (2 landed, 0 duplicates), 1 rejected")
    expect(r.stdout).toContain("see why: npx cdp query")
    // Read in this process (a cdp process costs seconds of start-up; this test is about cdp ingest).
    expect(await landed(data, "SELECT message_id, rule FROM dead_letters"))
      .toEqual([{ message_id: "refused-by-warehouse", rule: expect.stringMatching(/^warehouse_(rejected|failed)$/) }])
  })

  it("a file whose every item is rejected exits 1 with one line saying nothing landed and where the rejected items are kept; a partial one exits 0 naming how many were rejected", () => {
    const data = join(dir, "data")
    const bad = join(dir, "bad.ndjson")
    writeFileSync(bad, [JSON.stringify({ type: "track", event: "A", messageId: "b1" }), "not json"].join("\n"))
    const all = runCdp(["ingest", "--source", "segment", bad, "--data-dir", data])
    expectOneLineError(all, `${bad}: nothing landed: all 2 items were rejected`)
    expect(all.stderr).toContain("dead_letters")
    expect(all.stdout).toContain("0 accepted (0 landed, 0 duplicates), 2 rejected")
    const dry = runCdp(["ingest", "--source", "segment", bad, "--dry-run"])
    expectOneLineError(dry, `${bad}: nothing would land: all 2 items would be rejected`)
    expect(dry.stdout).toContain("rejected: missing_identity")

    const mixed = join(dir, "mixed.ndjson")
    writeFileSync(mixed, [line("ok1"), "not json"].join("\n"))
    const partial = runCdp(["ingest", "--source", "segment", mixed, "--data-dir", data])
    expect(partial.status).toBe(0)
    expect(partial.stderr).toBe("")
    expect(partial.stdout).toContain("1 accepted (1 landed, 0 duplicates), 1 rejected")
    // Landed again, every item a duplicate: accepted, so not a failure.
    const again = runCdp(["ingest", "--source", "segment", mixed, "--data-dir", data])
    expect(again.status).toBe(0)
    expect(again.stdout).toContain("1 accepted (0 landed, 1 duplicates), 1 rejected")
  })

  // Seen: "nothing landed: all 1 items were rejected".
  it("a file of one item, rejected, says its one item was rejected, not all 1 items (with --dry-run too)", () => {
    const one = join(dir, "one.ndjson")
    writeFileSync(one, JSON.stringify({ type: "track", event: "A", messageId: "b1" }) + "\n")
    const r = runCdp(["ingest", "--source", "segment", one, "--data-dir", join(dir, "data")])
    expectOneLineError(r, `${one}: nothing landed: its one item was rejected (kept in dead_letters`)
    const dry = runCdp(["ingest", "--source", "segment", one, "--dry-run"])
    expectOneLineError(dry, `${one}: nothing would land: its one item would be rejected (the line above says why)`)
  })

  it("an empty file, or one of blank lines, is one line saying so, exit 1 (with --dry-run too)", () => {
    const empty = join(dir, "empty.ndjson")
    writeFileSync(empty, "")
    const blank = join(dir, "blank.ndjson")
    writeFileSync(blank, "\n\n  \n")
    for (const file of [empty, blank]) {
      expectOneLineError(runCdp(["ingest", "--source", "segment", file, "--data-dir", join(dir, "data")]), `${file} holds nothing to ingest`)
      expectOneLineError(runCdp(["ingest", "--source", "segment", file, "--dry-run"]), `${file} holds nothing to ingest`)
    }
  })
})
