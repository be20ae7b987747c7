// A data-subject request's life: its due date (one calendar month), overdue requests, a request a crash left
// unfinished (failed on the next start, and why), and input refused before anything is stored.
import { join } from "node:path"
import { Effect, Layer, type Scope } from "effect"
import type { ObjectStore } from "../../ingest/objectstore.ts"
import type { Warehouse } from "../../warehouse/warehouse.ts"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { auditSigner, verifyAudit } from "../../consent/audit.ts"
import {
  DsrInvalid, dueDate, failInterrupted, listDsr, receiveRequest, requestStatus, runRequest, validateDsr,
} from "../../consent/dsr.ts"
import { Keys } from "../../consent/keys.ts"
import { backendConfig, objectStoreLayer, warehouseLayer } from "../../cli/layers.ts"
import { freshDir, removeDir, runWith } from "../support/pipeline.ts"

let dir: string
beforeEach(() => {
  dir = freshDir()
})
afterEach(() => removeDir(dir))

const DAY = 86_400_000

const withStores = <A, E>(program: Effect.Effect<A, E, Warehouse | ObjectStore | Keys | Scope.Scope>) => {
  const config = backendConfig(join(dir, "data"))
  return runWith(Layer.mergeAll(warehouseLayer(config), objectStoreLayer(config), Keys.fromDataDir(config.dataDir)), program)
}

const valid = (type: string, identifier = "email:ann@x.example") => {
  const v = validateDsr({ tenant: "acme", type, identifier })
  if (v instanceof DsrInvalid) throw v
  return v
}

describe("due dates", () => {
  it("fall one calendar month after receipt, on the month's last day when it is shorter", () => {
    expect(new Date(dueDate(Date.parse("2026-01-31T10:00:00.000Z"))).toISOString()).toBe("2026-02-28T10:00:00.000Z")
    expect(new Date(dueDate(Date.parse("2028-01-31T10:00:00.000Z"))).toISOString()).toBe("2028-02-29T10:00:00.000Z")
    expect(new Date(dueDate(Date.parse("2026-03-31T23:59:00.000Z"))).toISOString()).toBe("2026-04-30T23:59:00.000Z")
    expect(new Date(dueDate(Date.parse("2026-12-15T08:00:00.000Z"))).toISOString()).toBe("2027-01-15T08:00:00.000Z")
  })
})

describe("request lifecycle", () => {
  it("overdue lists the requests past their due date that are not completed", async () => {
    await withStores(Effect.gen(function* () {
      const env = { signer: yield* auditSigner(join(dir, "data")) }
      const now = Date.now()
      // Received 40 days ago and completed since (late, but answered).
      const late = yield* receiveRequest(env, valid("restriction"), now - 40 * DAY)
      yield* runRequest(env, valid("restriction"), late)
      // Received 40 days ago and never run: owed and overdue.
      const owed = yield* receiveRequest(env, valid("access"), now - 40 * DAY)
      // Received today: due in a month.
      const fresh = yield* receiveRequest(env, valid("access"), now)
      const all = yield* listDsr({ tenant: "acme" })
      // Oldest first.
      expect(all.map((r) => r.requestId).sort()).toEqual([late.requestId, owed.requestId, fresh.requestId].sort())
      expect(all[2]!.requestId).toBe(fresh.requestId)
      expect(all.find((r) => r.requestId === late.requestId)?.status).toBe("completed")
      const overdue = yield* listDsr({ tenant: "acme", overdue: true })
      expect(overdue.map((r) => r.requestId)).toEqual([owed.requestId])
      // A month from now the fresh one is overdue too.
      const later = yield* listDsr({ overdue: true, nowMs: now + 32 * DAY })
      expect(later.map((r) => r.requestId).sort()).toEqual([owed.requestId, fresh.requestId].sort())
      expect(yield* listDsr({ tenant: "globex" })).toEqual([])
    }))
  })

  it("a request a stopped process left unfinished is failed on the next start, with the reason, and its trail says so", async () => {
    await withStores(Effect.gen(function* () {
      const env = { signer: yield* auditSigner(join(dir, "data")) }
      const stuck = yield* receiveRequest(env, valid("erasure"))
      expect((yield* requestStatus(stuck.requestId)).request.status).toBe("received")
      expect(yield* failInterrupted(env)).toBe(1)
      const s = yield* requestStatus(stuck.requestId)
      expect(s.request.status).toBe("failed")
      expect(s.request.error).toMatch(/^interrupted: .*submit the request again/)
      expect(s.trail.map((t) => t.kind)).toEqual(["dsr.received", "dsr.failed"])
      // Nothing left to fail the second time.
      expect(yield* failInterrupted(env)).toBe(0)
      expect((yield* verifyAudit(env.signer)).ok).toBe(true)
    }))
  })

  it("a request id nobody issued is DsrNotFound", async () => {
    const result = await withStores(Effect.flip(requestStatus("dsr_nope")))
    expect(result._tag).toBe("DsrNotFound")
  })
})

describe("bad input", () => {
  it("names what is wrong, before anything is stored", () => {
    const refused = (input: { type: string; identifier: string; set?: Record<string, string>; lift?: boolean }) => {
      const v = validateDsr({ tenant: "acme", ...input })
      expect(v).toBeInstanceOf(DsrInvalid)
      return v as DsrInvalid
    }
    expect(refused({ type: "deletion", identifier: "email:ann@x.example" })).toMatchObject({ field: "type", message: expect.stringContaining('unknown request type "deletion"') })
    expect(refused({ type: "access", identifier: "email:not-an-address" })).toMatchObject({ field: "identifier" })
    expect(refused({ type: "access", identifier: "shoe:42" })).toMatchObject({ field: "identifier", message: expect.stringContaining('unknown kind "shoe"') })
    expect(refused({ type: "rectification", identifier: "user_id:u1" })).toMatchObject({ field: "set" })
    expect(refused({ type: "access", identifier: "user_id:u1", set: { name: "x" } })).toMatchObject({ field: "set" })
    expect(refused({ type: "rectification", identifier: "user_id:u1", set: { "a b": "x" } })).toMatchObject({ field: "set" })
    // Names of every JavaScript object's own machinery are no trait (as a JSON body names them: own keys).
    for (const name of ["__proto__", "constructor", "prototype"]) {
      expect(refused({ type: "rectification", identifier: "user_id:u1", set: JSON.parse(`{"${name}": "x"}`) as Record<string, string> }))
        .toMatchObject({ field: "set", message: expect.stringContaining(`"${name}"`) })
    }
    expect(validateDsr({ tenant: "acme", type: "access", identifier: "user_id:u1", lift: true })).toMatchObject({ field: "lift" })
  })
})
