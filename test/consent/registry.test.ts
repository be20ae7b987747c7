// The registry of personal data covers every table the warehouse has and every area the object store has, so a new
// store cannot be forgotten by erasure; and an erasure reaches what a small pipeline run wrote.
import { Effect, Logger } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Keys, makeKeys } from "../../consent/keys.ts"
import { bundlePrefix } from "../../consent/bundle.ts"
import { areaOf, eraseSubject, exportSubject, OBJECT_AREAS, tableEntry, TABLES } from "../../consent/registry.ts"
import { EXPORTS_PREFIX } from "../../ingest/destinations/files.ts"
import { stateKeyPrefix } from "../../ingest/social/x-client.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { isSuppressed, liftSuppression } from "../../consent/suppression.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { freshDir, post, removeDir, withCollector } from "../support/pipeline.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"

let dir: string
beforeAll(() => {
  dir = freshDir()
})
afterAll(() => removeDir(dir))

const keys = Keys.fixed(new Uint8Array(32).fill(7))
const run = <A, E>(messages: ReadonlyArray<Record<string, unknown>>, program: Effect.Effect<A, E, Warehouse | ObjectStore | Keys>) =>
  withCollector(dir, (url) => Effect.gen(function* () {
    const r = yield* post(`${url}/v1/batch`, { batch: messages })
    expect(r.status).toBe(200)
    return yield* program
  }).pipe(Effect.provide(keys), Effect.provide(Logger.layer([]))))

describe("the registry of personal data", () => {
  it("covers every table of the warehouse and every area of the object store", async () => {
    const { tables, keys: objectKeys } = await run([
      { type: "identify", userId: "u-reg-1", messageId: "m-reg-1", traits: { email: "reg.person@mail.example" }, timestamp: "2024-10-01T10:00:00Z" },
    ], Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const store = yield* ObjectStore
      return {
        tables: yield* warehouse.query<{ name: string }>("SELECT name FROM system.tables WHERE database = currentDatabase()"),
        keys: yield* store.list(""),
      }
    }))
    expect(tables.length).toBeGreaterThan(10)
    expect(tables.map((t) => t.name).filter((name) => tableEntry(name) === undefined)).toEqual([])
    expect(objectKeys.length).toBeGreaterThan(0)
    expect(objectKeys.filter((k) => areaOf(k) === undefined)).toEqual([])
  })

  it("says where each object area keeps one tenant's objects as its owner writes them (erasure looks there only)", () => {
    const prefix = (p: string) => OBJECT_AREAS.find((a) => a.prefix === p)!.tenantPrefix!("acme")
    expect(prefix("connectors/")).toBe(stateKeyPrefix("acme"))
    expect(bundlePrefix(makeKeys(new Uint8Array(32)), "acme", { profileId: "prof_x" }).startsWith(prefix("dsr/"))).toBe(true)
    expect(prefix("exports/")).toBe(`${EXPORTS_PREFIX}acme/`)
    // The archive is erased by its own tenant-scoped rewrite, the audit log never.
    expect(OBJECT_AREAS.filter((a) => a.tenantPrefix === undefined).map((a) => a.prefix)).toEqual(["archive/", "audit/"])
  })

  it("gives every table that holds personal data a way to find a subject's rows", () => {
    for (const t of TABLES.filter((x) => x.erasure === "rows")) expect(t.locate, t.name).toBeDefined()
  })

  it("erases a person found by one identifier everywhere, exports them first, and suppresses them until they return", async () => {
    const result = await run([
      { type: "identify", userId: "u-erase-1", messageId: "m-erase-1", traits: { email: "erase.me@mail.example", phone: "+447700900555" }, timestamp: "2024-10-02T10:00:00Z" },
      { type: "track", userId: "u-erase-1", messageId: "m-erase-2", event: "Order Completed", timestamp: "2024-10-03T10:00:00Z" },
      { type: "identify", userId: "u-keep-1", messageId: "m-keep-1", traits: { email: "keep.me@mail.example", note: "friend of erase.me@mail.example" }, timestamp: "2024-10-02T11:00:00Z" },
    ], Effect.gen(function* () {
      const subject = yield* resolveSubject("acme", "erase.me@mail.example")
      const exported = yield* exportSubject(subject)
      const done = yield* eraseSubject(subject)
      const warehouse = yield* Warehouse
      const left = yield* warehouse.query<{ message_id: string; traits: string }>("SELECT message_id, traits FROM event_rows WHERE tenant = 'acme' ORDER BY message_id")
      // Redaction is done in place: materialized views fed by event_rows (relation activity) do not count a row twice.
      const tables = (yield* warehouse.query<{ name: string }>("SHOW TABLES")).map((t) => t.name)
      const activity = tables.includes("relation_activity_daily")
        ? Number((yield* warehouse.query<{ n: string }>("SELECT sum(events) AS n FROM relation_activity_daily WHERE tenant = 'acme'"))[0]!.n)
        : 2
      const blocked = yield* isSuppressed("acme", [{ kind: "email", value: "Erase.Me@mail.example" }])
      const other = yield* isSuppressed("acme", [{ kind: "email", value: "keep.me@mail.example" }])
      yield* liftSuppression("acme", [{ kind: "email", value: "erase.me@mail.example" }, { kind: "user_id", value: "u-erase-1" }, { kind: "phone", value: "+447700900555" }], "consent", "m-return-1")
      const lifted = yield* isSuppressed("acme", [{ kind: "email", value: "erase.me@mail.example" }])
      return { exported, done, left, blocked, other, lifted, activity }
    }))
    expect(result.exported.find((s) => s.store === "event_rows")?.rows.length).toBe(2)
    expect(result.done.find((d) => d.where === "event_rows" && d.what === "erased")?.count).toBe(2)
    expect(result.done.find((d) => d.where === "event_rows" && d.what === "redacted")?.count).toBe(1)
    expect(result.left.map((r) => r.message_id)).toEqual(["m-keep-1", "m-reg-1"])
    expect(result.left[0]!.traits).toContain("[erased]")
    expect(result.left[0]!.traits).not.toContain("erase.me")
    expect(result.activity).toBe(2)
    expect(result.blocked).toBe(true)
    expect(result.other).toBe(false)
    expect(result.lifted).toBe(false)
  }, 120_000)
})
