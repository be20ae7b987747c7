// Erasure benchmark: time from an erasure request (one e-mail address) to verified completion (every table scanned
// for the person's identifiers, the archive re-read, no outdated part left on disk), on the dev set, and with
// BENCH_ERASURE_EVENTS (10 million) synthetic events added to the warehouse by INSERT ... SELECT FROM numbers().
// Target: 60 s each. Run by `npm run bench`; not part of the tests.
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Layer, Logger } from "effect"
import { Keys } from "../../consent/keys.ts"
import { eraseSubject } from "../../consent/registry.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { defaultIdentityConfig } from "../../identity/index.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { CDP_BIN } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { SIGNALS_DEV } from "../support/shared.ts"

const SYNTHETIC = Number(process.env["BENCH_ERASURE_EVENTS"] ?? 10_000_000)
const SOURCES: ReadonlyArray<[string, string]> = [
  ["segment", "web.ndjson"], ["segment", "invalid.ndjson"], ["sendgrid", "email-events.json"], ["email", "email-inbound"],
  ["chat", "chat.ndjson"], ["twitter", "tweets.json"], ["calls", "calls.csv"],
]

const candidates = readFileSync(join(SIGNALS_DEV, "truth/persons.ndjson"), "utf8").trim().split("\n")
  .map((l) => JSON.parse(l) as { emails: ReadonlyArray<string>; erasure_candidate: boolean })
  .filter((p) => p.erasure_candidate && p.emails.length > 0)

const dataDir = freshDir("cdp-bench-erasure-")
const data = join(dataDir, "data")
const layer = Layer.mergeAll(Warehouse.embedded(join(data, "clickhouse")), ObjectStore.local(join(data, "objects")), Keys.fromDataDir(data))
const normalise = defaultIdentityConfig(["US", "GB"]).extract.normalise

const eraseTimed = (email: string) =>
  Effect.gen(function* () {
    const started = performance.now()
    const subject = yield* resolveSubject("default", `email:${email}`, normalise)
    const done = yield* eraseSubject(subject)
    const seconds = (performance.now() - started) / 1000
    const erased = done.filter((d) => d.what === "erased").reduce((n, d) => n + d.count, 0)
    return { seconds, erased }
  })

// Synthetic events: 1 million people over 2024, identifiers, traits and properties of realistic size.
const SYNTHETIC_SQL = `
INSERT INTO event_rows (tenant, message_id, type, event, anonymous_id, user_id, profile_id, channel, source, timestamp,
  received_at, properties, traits, context, extra, identifiers)
SELECT 'default', concat('syn-', toString(number)), 'track', 'Product Viewed', concat('anon-', toString(number % 1500000)),
  concat('usr_syn_', toString(number % 1000000)), concat('prof_syn', toString(number % 1000000)), 'web', 'segment',
  toDateTime64('2024-01-01 00:00:00', 3, 'UTC') + toIntervalSecond(number % 31536000), now64(3),
  concat('{"product_id":"p', toString(number % 5000), '","price":', toString(number % 200), ',"currency":"USD"}'),
  concat('{"email":"user', toString(number % 1000000), '@syn.example","name":"Person ', toString(number % 1000000), '"}'),
  '{"ip":"203.0.113.7","userAgent":"Mozilla/5.0"}', '{}',
  [tuple('email', concat('user', toString(number % 1000000), '@syn.example'))]
FROM numbers({n:UInt64})`

const main = Effect.gen(function* () {
  for (const [source, file] of SOURCES) {
    const r = spawnSync(process.execPath, [CDP_BIN, "ingest", "--source", source, join(SIGNALS_DEV, file), "--data-dir", data], {
      env: { ...process.env, CDP_PHONE_REGIONS: "US,GB" }, encoding: "utf8",
    })
    // invalid.ndjson is every line refused: `cdp ingest` exits 1 saying nothing landed, as it should.
    if (r.status !== 0 && !(file === "invalid.ndjson" && r.stderr.includes("nothing landed"))) throw new Error(`ingest ${source} failed: ${r.stderr}`)
  }
  const dev = yield* eraseTimed(candidates[0]!.emails[0]!).pipe(Effect.provide(layer), Effect.scoped)
  process.stdout.write(`dev set (13,462 events): erasure request to verified completion ${dev.seconds.toFixed(1)} s ` +
    `(${dev.erased} rows erased; target <= 60 s)\n`)

  const big = yield* Effect.gen(function* () {
    const warehouse = yield* Warehouse
    const started = performance.now()
    // In batches of 1 million, so one insert's memory stays small on a 2-core machine.
    for (let done = 0; done < SYNTHETIC; done += 1_000_000) {
      yield* warehouse.command(SYNTHETIC_SQL.replace("FROM numbers({n:UInt64})", `FROM numbers(${done}, ${Math.min(1_000_000, SYNTHETIC - done)})`))
    }
    const [count] = yield* warehouse.query<{ n: string }>("SELECT count() AS n FROM event_rows")
    process.stdout.write(`  ${Number(count!.n).toLocaleString("en")} events in the warehouse (synthetic ones inserted in ` +
      `${((performance.now() - started) / 1000).toFixed(0)} s)\n`)
    return yield* eraseTimed(candidates[1]!.emails[0]!)
  }).pipe(Effect.provide(layer), Effect.scoped)
  process.stdout.write(`with ${SYNTHETIC.toLocaleString("en")} more events: erasure request to verified completion ` +
    `${big.seconds.toFixed(1)} s (${big.erased} rows erased; target <= 60 s)\n`)
})

Effect.runPromise(main.pipe(Effect.provide(Logger.layer([])))).then(
  () => removeDir(dataDir),
  (e: unknown) => {
    removeDir(dataDir)
    process.stderr.write(`erasure bench failed: ${String(e)}\n`)
    process.exitCode = 1
  },
)
