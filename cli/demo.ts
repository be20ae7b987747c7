// `cdp demo`: lands the bundled sample (1,509 Segment messages of a made-up outdoor retailer, and 54 broken ones)
// in a fresh data dir, then shows what landed, what was rejected and why, and queries to try next.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Data, Effect } from "effect"
import { importFile } from "../ingest/import.ts"
import { DEFAULT_TENANT } from "../ingest/writekeys.ts"
import { DataDirLocked, dataDirHolder } from "../warehouse/lock.ts"
import { Warehouse } from "../warehouse/warehouse.ts"
import { DataDirUnusable } from "./data-dir.ts"
import { formatRows } from "./format.ts"
import { backendConfig, embeddedWarehouseDir, pipelineLayer } from "./layers.ts"

const SAMPLES = fileURLToPath(new URL("../ingest/samples/", import.meta.url))
const MARKER = ".cdp-demo"

export class DemoDirNotFresh extends Data.TaggedError("DemoDirNotFresh")<{ readonly dataDir: string }> {
  override get message() {
    return `${this.dataDir} exists and was not made by cdp demo; pick an empty or new --data-dir`
  }
}

/** The demo owns its directory: it wipes one it made before, and refuses to touch anything else. */
const freshDemoDir = (dir: string) =>
  Effect.gen(function* () {
    const entries = yield* Effect.try({
      try: () => (existsSync(dir) ? readdirSync(dir) : []),
      catch: (e) => DataDirUnusable.of(dir, e),
    })
    if (entries.length > 0) {
      // A dir in use (by cdp serve, say) is named as such, and never wiped, even one an earlier demo made.
      const owner = dataDirHolder(embeddedWarehouseDir(dir))
      if (owner !== undefined) return yield* Effect.fail(new DataDirLocked({ dataDir: dir, owner }))
      if (!existsSync(join(dir, MARKER))) return yield* Effect.fail(new DemoDirNotFresh({ dataDir: dir }))
    }
    yield* Effect.try({
      try: () => {
        if (entries.length > 0) rmSync(dir, { recursive: true, force: true })
        mkdirSync(dir, { recursive: true })
        writeFileSync(join(dir, MARKER), "made by cdp demo; safe to delete\n")
      },
      catch: (e) => DataDirUnusable.of(dir, e),
    })
  })

const section = (title: string, rows: ReadonlyArray<Record<string, unknown>>) =>
  Effect.sync(() => process.stdout.write(`\n${title}\n${formatRows(rows, "table")}\n`))

export const runDemo = (dataDirOption: string) =>
  Effect.gen(function* () {
    const dataDir = resolve(dataDirOption)
    yield* freshDemoDir(dataDir)
    const shown = relative(process.cwd(), dataDir) || "."
    const program = Effect.gen(function* () {
      process.stdout.write(`Landing the bundled sample in ${shown} ...\n`)
      for (const file of ["web.ndjson", "invalid.ndjson"]) {
        const s = yield* importFile("segment", join(SAMPLES, file), { tenant: DEFAULT_TENANT })
        process.stdout.write(`  ${file}: ${s.accepted} accepted (${s.landed} landed, ${s.duplicates} duplicates), ${s.rejected} rejected\n`)
      }
      const warehouse = yield* Warehouse
      yield* section("What landed (events by type):", yield* warehouse.query(
        "SELECT type, count() AS events, uniqExact(profile_id) AS profiles, min(timestamp) AS first, max(timestamp) AS last FROM events GROUP BY type ORDER BY events DESC"))
      yield* section("Most frequent track events:", yield* warehouse.query(
        "SELECT event, count() AS events FROM events WHERE type = 'track' GROUP BY event ORDER BY events DESC LIMIT 8"))
      yield* section("What was rejected, and why (dead_letters):", yield* warehouse.query(
        "SELECT rule, count() AS messages, any(field) AS field, any(reason) AS example_reason FROM dead_letters GROUP BY rule ORDER BY messages DESC"))
      const dir = shown === ".cdp-demo" ? " --data-dir .cdp-demo" : ` --data-dir ${shown}`
      process.stdout.write(`
Try next:
  npx cdp query "SELECT profile_id, events, channels, identifiers FROM profiles ORDER BY events DESC LIMIT 10" --format table${dir}
  npx cdp profile show PROFILE_ID${dir}    # one customer across channels: identifiers, traits, recent events
  npx cdp query "SELECT JSONExtractString(properties, 'product_id') AS product, count() AS views FROM events WHERE event = 'Product Viewed' GROUP BY product ORDER BY views DESC LIMIT 5" --format table${dir}
  npx cdp query "SELECT reason, payload FROM dead_letters WHERE rule = 'bad_timestamp'"${dir}
  npx cdp serve    # then point analytics.js / @segment/analytics-node / RudderStack at http://127.0.0.1:8787
`)
    })
    yield* program.pipe(Effect.provide(pipelineLayer(backendConfig(dataDir))))
  })
