// `cdp demo`: lands the bundled sample (four weeks of a made-up coffee roaster on every channel, and 54 broken
// messages; see ingest/samples/README.md) in a fresh data dir, then shows what landed, what customers said, what was
// rejected and why, and what to try next on one customer seen across channels.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Data, Effect } from "effect"
import { computeRelations, dayOf } from "../identity/relations/index.ts"
import { importFile } from "../ingest/import.ts"
import { SAMPLE_FILES, SAMPLE_TITLE } from "../ingest/samples/generate.ts"
import { DEFAULT_TENANT } from "../ingest/writekeys.ts"
import { deadLettersByRule } from "../warehouse/dead-letters.ts"
import { DataDirLocked, dataDirHolder } from "../warehouse/lock.ts"
import { eventsByChannel, frequentEvents, socialChannelSpan, widestProfileEmail } from "../warehouse/profiles.ts"
import { sentimentByChannel } from "../warehouse/sentiment.ts"
import { readSetting, SETTINGS } from "./config.ts"
import { DataDirUnusable } from "./data-dir.ts"
import { formatRows, shellWord } from "./format.ts"
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

/**
 * The day after the latest event landed: relationships are brought to it, so a sample of past weeks is read as it
 * stood when it ended (brought to today, every customer of an old sample would be `distant`).
 */
const dayAfterLatest = (channels: ReadonlyArray<{ readonly last: string }>): string | undefined => {
  const times = channels.map((c) => Date.parse(`${c.last.replace(" ", "T")}Z`)).filter((ms) => !Number.isNaN(ms))
  return times.length === 0 ? undefined : dayOf(Math.max(...times) + 86_400_000)
}

/** The e-mail address of the profile seen on the most channels: the one to look at first. */
const showcaseEmail = (rows: ReadonlyArray<{ readonly email?: unknown }>): string | undefined =>
  typeof rows[0]?.email === "string" && rows[0].email !== "" ? rows[0].email : undefined

export const runDemo = (dataDirOption: string) =>
  Effect.gen(function* () {
    const dataDir = resolve(dataDirOption)
    yield* freshDemoDir(dataDir)
    const shown = relative(process.cwd(), dataDir) || "."
    const program = Effect.gen(function* () {
      process.stdout.write(`Landing the bundled sample (${SAMPLE_TITLE}) in ${shown} ...\n`)
      for (const { file, source } of SAMPLE_FILES) {
        const s = yield* importFile(source, join(SAMPLES, file), { tenant: DEFAULT_TENANT })
        process.stdout.write(`  ${file}: ${s.accepted} accepted (${s.landed} landed, ${s.duplicates} duplicates), ${s.rejected} rejected  [--source ${source}]\n`)
      }
      const channels = yield* eventsByChannel()
      yield* section("What landed (events by channel):", channels)
      yield* section("Most frequent events (page views aside):", yield* frequentEvents())
      yield* section("What customers wrote, by sentiment (texts of chats, calls, mails, posts):", yield* sentimentByChannel())
      yield* section("What was rejected, and why (dead_letters):", yield* deadLettersByRule())
      const asOf = dayAfterLatest(channels)
      if (asOf !== undefined) {
        const relations = yield* computeRelations({ tenant: DEFAULT_TENANT, asOf, config: yield* readSetting(SETTINGS.relations) })
        yield* section(`How customers relate to the brand as of ${asOf}, the day after the last event (cdp relations compute --as-of ${asOf}):`,
          Object.entries(relations.byType).map(([type, profiles]) => ({ type, profiles })))
      }
      const email = showcaseEmail(yield* widestProfileEmail())
      const [social] = yield* socialChannelSpan()
      const dir = ` --data-dir ${shellWord(shown)}`
      process.stdout.write(`
Try next:
${email === undefined ? "" : `  npx cdp profile show ${email}${dir}    # one customer on every channel: identifiers, traits, sentiment, recent events
`}${email === undefined || asOf === undefined ? "" : `  npx cdp relations explain ${email}${dir}    # why this customer has their relationship type, health and churn risk: the evidence
  npx cdp query "SELECT profile_id, relationship_type, health_score, churn_risk FROM profiles ORDER BY churn_risk DESC LIMIT 5" --format table${dir}
`}  npx cdp query "SELECT profile_id, channels, events, identifiers FROM profiles ORDER BY length(channels) DESC, events DESC LIMIT 5" --format table${dir}
  npx cdp query "SELECT JSONExtractString(properties, 'product_id') AS product, count() AS views FROM events WHERE event = 'Product Viewed' GROUP BY product ORDER BY views DESC LIMIT 5" --format table${dir}
  npx cdp query "SELECT event, JSONExtractString(properties, 'consent_signal') AS signal, count() AS n FROM events WHERE signal != '' GROUP BY event, signal" --format table${dir}
${social === undefined ? "" : `  npx cdp listen report --since ${social.since} --until ${social.until}${dir}    # social listening: mentions, sentiment, topics, spikes
`}  npx cdp dlq list${dir}    # the rejected messages; ingest/samples/README.md says what is wrong with each line
  npx cdp serve    # then point analytics.js / @segment/analytics-node / RudderStack at http://127.0.0.1:8787
`)
    })
    yield* program.pipe(Effect.provide(pipelineLayer(backendConfig(dataDir))))
  })
