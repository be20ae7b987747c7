// Retention: per-store periods (CDP_RETENTION) become TTLs the warehouse enforces, and the archive drops old days.
import { Effect, Layer, type Scope } from "effect"
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { expireArchive } from "../../ingest/archive.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { applyRetention, archiveCutoff, DEFAULT_RETENTION, parseRetention } from "../../warehouse/retention.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { keepRetention } from "../../cli/retention.ts"
import { runCdp } from "../support/cli.ts"
import { freshDir, removeDir, runWith } from "../support/pipeline.ts"

let dir: string
beforeAll(() => {
  dir = freshDir()
})
afterAll(() => removeDir(dir))

const run = <A, E>(program: Effect.Effect<A, E, Warehouse | ObjectStore | Scope.Scope>) =>
  runWith(Layer.merge(Warehouse.embedded(join(dir, "clickhouse")), ObjectStore.local(join(dir, "objects"))), program)

const engineOf = (table: string) => Effect.gen(function* () {
  const warehouse = yield* Warehouse
  const [row] = yield* warehouse.query<{ engine_full: string }>(
    "SELECT engine_full FROM system.tables WHERE database = currentDatabase() AND name = {t:String}", { params: { t: table } })
  return row!.engine_full
})

describe("retention", () => {
  it("reads per-store months over the defaults and names what is wrong", () => {
    expect(parseRetention("events=12, archive=0")).toEqual({ ...DEFAULT_RETENTION, events: 12, archive: 0 })
    expect(parseRetention("archive=forever")).toEqual({ ...DEFAULT_RETENTION, archive: 0 })
    expect(() => parseRetention("event=12")).toThrow(/unknown store "event"/)
    expect(() => parseRetention("events=twelve")).toThrow(/"events=twelve" is not STORE=MONTHS or STORE=forever/)
  })

  it("gives every personal table a TTL by default, changes it to what the policy says, and removes it for 0", async () => {
    const { before, after, removed, rows } = await run(Effect.gen(function* () {
      const before = yield* engineOf("event_rows")
      yield* applyRetention({ ...DEFAULT_RETENTION, events: 3, dead_letters: 0 })
      const after = yield* engineOf("event_rows")
      const removed = yield* engineOf("dead_letters")
      const warehouse = yield* Warehouse
      // Two inserts, two parts: a monthly table drops a part once all of its rows expired (ttl_only_drop_parts).
      yield* warehouse.insert("event_rows", [
        { tenant: "t", message_id: "old", timestamp: "2024-01-01 00:00:00", received_at: "2024-01-01 00:00:00", ingested_at: "2020-01-01 00:00:00" },
      ])
      yield* warehouse.insert("event_rows", [{ tenant: "t", message_id: "new", timestamp: "2024-01-01 00:00:00", received_at: "2024-01-01 00:00:00" }])
      yield* warehouse.command("ALTER TABLE event_rows MATERIALIZE TTL SETTINGS mutations_sync = 2")
      const rows = yield* warehouse.query<{ message_id: string }>("SELECT message_id FROM event_rows ORDER BY message_id")
      return { before, after, removed, rows }
    }))
    expect(before).toContain("TTL toDateTime(ingested_at) + toIntervalMonth(25)")
    expect(after).toContain("TTL toDateTime(ingested_at) + toIntervalMonth(3)")
    expect(removed).not.toContain(" TTL ")
    expect(rows.map((r) => r.message_id)).toEqual(["new"])
  })

  it("drops the archive's days older than its period, and keeps the rest", async () => {
    const keys = await run(Effect.gen(function* () {
      const store = yield* ObjectStore
      yield* store.put("archive/t/segment/2020-01-01/a.ndjson.gz", "x")
      yield* store.put("archive/t/segment/2020-01-01/manifest.json", "{}")
      yield* store.put("archive/t/segment/2099-01-01/b.ndjson.gz", "y")
      expect(yield* expireArchive(archiveCutoff({ ...DEFAULT_RETENTION, archive: 13 }, new Date("2026-12-01T00:00:00Z"))!)).toBe(1)
      return yield* store.list("archive/")
    }))
    expect(archiveCutoff({ ...DEFAULT_RETENTION, archive: 13 }, new Date("2026-12-01T00:00:00Z"))).toBe("2025-11-01")
    // The archive keeps 13 months by default; forever (0) keeps it until erased.
    expect(DEFAULT_RETENTION.archive).toBe(13)
    expect(archiveCutoff(DEFAULT_RETENTION, new Date("2026-12-01T00:00:00Z"))).toBe("2025-11-01")
    expect(archiveCutoff(parseRetention("archive=forever"))).toBeUndefined()
    expect(keys).toEqual(["archive/t/segment/2099-01-01/b.ndjson.gz"])
  })

  it("while the pipeline runs, a daily pass drops each archive day as it passes its period", async () => {
    let today = new Date("2026-12-01T12:00:00Z")
    const left = await run(Effect.gen(function* () {
      const store = yield* ObjectStore
      yield* store.put("archive/t/segment/2025-11-01/a.ndjson.gz", "x")
      yield* store.put("archive/t/segment/2025-11-02/b.ndjson.gz", "y")
      yield* keepRetention(DEFAULT_RETENTION, { every: "20 millis", now: () => today })
      const mine = Effect.map(store.list("archive/t/segment/2025-"), (keys) => [...keys].sort())
      const afterStart = yield* mine
      // A day later (the clock the pass reads moves on), without a restart.
      today = new Date("2026-12-02T12:00:00Z")
      yield* Effect.sleep("300 millis")
      return { afterStart, later: yield* mine }
    }))
    expect(left.afterStart).toEqual(["archive/t/segment/2025-11-01/a.ndjson.gz", "archive/t/segment/2025-11-02/b.ndjson.gz"])
    expect(left.later).toEqual(["archive/t/segment/2025-11-02/b.ndjson.gz"])
  })

  it("cdp retention apply applies the policy now and says what it did", () => {
    const data = join(dir, "apply")
    mkdirSync(join(data, "objects/archive/t/segment/2020-01-01"), { recursive: true })
    writeFileSync(join(data, "objects/archive/t/segment/2020-01-01/a.ndjson.gz"), "x")
    const kept = runCdp(["retention", "apply", "--data-dir", data], { env: { CDP_RETENTION: "archive=forever" } })
    expect(kept.status, kept.stderr).toBe(0)
    expect(kept.stdout).toContain("archive: kept until erased")
    expect(existsSync(join(data, "objects/archive/t/segment/2020-01-01/a.ndjson.gz"))).toBe(true)
    const r = runCdp(["retention", "apply", "--data-dir", data, "--format", "json"], { env: { CDP_RETENTION: "events=12" } })
    expect(r.status, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as { tablesChanged: Array<string>; archiveDaysRemoved: number; policy: { archive: number } }
    expect(out).toMatchObject({ tablesChanged: ["event_rows"], archiveDaysRemoved: 1, policy: { archive: 13 } })
    expect(existsSync(join(data, "objects/archive/t/segment/2020-01-01/a.ndjson.gz"))).toBe(false)
    // What changed is a signed entry of the audit log: this pass (events=12, a day removed); the first changed nothing.
    const entries = readdirSync(join(data, "objects/audit/log")).sort()
      .map((f) => JSON.parse(readFileSync(join(data, "objects/audit/log", f), "utf8")) as { kind: string; tenant: string; data: Record<string, unknown>; signature: string })
    expect(entries.map((e) => e.kind)).toEqual(["retention.applied"])
    expect(entries[0]).toMatchObject({
      tenant: "", data: { tablesChanged: ["event_rows"], archiveDaysRemoved: 1, archiveKeepsFrom: expect.any(String), policy: { events: 12, archive: 13 } },
      signature: expect.any(String),
    })
    // Nothing changed: nothing recorded.
    expect(runCdp(["retention", "apply", "--data-dir", data], { env: { CDP_RETENTION: "events=12" } }).status).toBe(0)
    expect(readdirSync(join(data, "objects/audit/log"))).toHaveLength(1)
    const verified = runCdp(["audit", "verify", "--data-dir", data])
    expect(verified.status, verified.stderr).toBe(0)
  })

  it("refuses a wrong CDP_RETENTION in one line", () => {
    const r = runCdp(["ingest", "--source", "segment", "/dev/null", "--data-dir", join(dir, "cli")], { env: { CDP_RETENTION: "forever" } })
    expect(r.status).toBe(1)
    expect(r.stderr.trim().split("\n")).toHaveLength(1)
    expect(r.stderr).toMatch(/CDP_RETENTION must be/)
  })
})
