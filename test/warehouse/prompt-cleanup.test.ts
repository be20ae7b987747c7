// Every MergeTree table, after migrating, drops outdated parts at once (migration 025's settings, PROMPT_CLEANUP_SETTINGS):
// an erasure waits until the parts its mutations replaced leave the disk, and a table keeping them old_parts_lifetime
// (480 s by default) holds the erased rows' bytes that long. A table added without them fails here.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { PROMPT_CLEANUP_SETTINGS } from "../../warehouse/erasure.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** "a = 1, b = 2" as [["a", "1"], ["b", "2"]]. */
const settingsOf = (text: string): Array<[string, string]> =>
  text.split(",").map((s) => s.trim().split(/\s*=\s*/) as [string, string])

describe("prompt cleanup of outdated parts", () => {
  it("every MergeTree table has the prompt cleanup settings after migrating", { timeout: 60_000 }, () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const tables = yield* (yield* Warehouse).query<{ name: string; engine_full: string }>(
        "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree' ORDER BY name")
      expect(tables.length).toBeGreaterThan(30)
      const wanted = settingsOf(PROMPT_CLEANUP_SETTINGS)
      const lacking = tables.flatMap((t) => {
        const at = t.engine_full.indexOf(" SETTINGS ")
        const has = new Map(at < 0 ? [] : settingsOf(t.engine_full.slice(at + " SETTINGS ".length)))
        const missing = wanted.filter(([name, value]) => has.get(name) !== value).map(([name]) => name)
        return missing.length === 0 ? [] : [`${t.name}: ${missing.join(", ")}`]
      })
      expect(lacking).toEqual([])
    })))
})
