// An erasure that waits for outdated parts may detach a table and attach it again (warehouse/erasure.ts
// awaitOldPartsGone), a table every tenant's rows share. A read of it in between is not the reader's fault: it waits
// for the table to be back and is answered. Seen probing cdp serve: while two of acme's erasures ran, one of globex's
// GET /v1/consent/{identifier} (of about 60) was answered 500 "Unknown table expression identifier 'consent_ledger' in
// scope SELECT ...", the engine's words and the statement sent to the caller.
import { Effect, Fiber, Ref } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { awaitOldPartsGone, outdatedParts } from "../../warehouse/erasure.ts"
import { apiReads, Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

it("reads of a table detached and attached again by an erasure's wait are answered, on every connection", { timeout: 90_000 }, () =>
  withEmbeddedWarehouse(dir, Effect.gen(function* () {
    const w = yield* Warehouse
    // Made without the prompt cleanup settings, so its outdated part stays until the table is attached again.
    yield* w.command("CREATE TABLE shared (tenant String, k UInt64) ENGINE = MergeTree ORDER BY (tenant, k)")
    yield* w.command("INSERT INTO shared VALUES ('globex', 1)")
    yield* w.command("INSERT INTO shared VALUES ('globex', 2)")
    yield* w.command("OPTIMIZE TABLE shared FINAL")
    expect((yield* outdatedParts(["shared"])).length).toBe(1)

    const failures = yield* Ref.make<Array<string>>([])
    const answered = yield* Ref.make(0)
    // Another tenant's short reads, one after another on each connection, for as long as the wait lasts.
    const reader = (read: <A, E, R>(e: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) => Effect.forever(
      read(w.query<{ n: string }>("SELECT count() AS n FROM shared WHERE tenant = 'globex'")).pipe(
        Effect.tap((rows) => rows[0]?.n === "2" ? Ref.update(answered, (n) => n + 1) : Ref.update(failures, (f) => [...f, `answered ${JSON.stringify(rows)}`])),
        Effect.catch((e) => Ref.update(failures, (f) => [...f, String((e as Error).message).slice(0, 200)])),
      ))
    const readers = yield* Effect.forkChild(Effect.all([reader((e) => e), reader(apiReads)], { concurrency: 2 }))
    yield* Effect.sleep("200 millis")
    expect(yield* awaitOldPartsGone(["shared"], 30_000)).toEqual([])
    yield* Fiber.interrupt(readers)

    expect(yield* Ref.get(failures)).toEqual([])
    expect(yield* Ref.get(answered)).toBeGreaterThan(0)
  })))
