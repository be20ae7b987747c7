// `cdp dsr submit|status|list` and `cdp audit verify`, run as the real commands: on the data directory itself and
// through a running `cdp serve` (its /v1/dsr routes), with overdue requests, tampering and bad input.
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { backendConfig, objectStoreLayer, warehouseLayer } from "../../cli/layers.ts"
import { auditSigner, entryKey } from "../../consent/audit.ts"
import { DsrInvalid, receiveRequest, validateDsr } from "../../consent/dsr.ts"
import { Keys } from "../../consent/keys.ts"
import { identifierFromFlags, parseSets } from "../../cli/dsr.ts"
import { AUDIT_LIST } from "../../ingest/audit-route.ts"
import { encodePageCursor, listOf } from "../../ingest/pages.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { runCdp, startServe } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { copyDataDir } from "../support/seeded-dir.ts"

/** The file's: SAMPLE landed once (each cdp process costs seconds), never changed; a test that uses it copies it. */
let root: string
let seeded: string
beforeAll(() => {
  root = freshDir()
  seeded = join(root, "seeded")
  const file = join(root, "web.ndjson")
  writeFileSync(file, SAMPLE.map((m) => JSON.stringify(m)).join("\n"))
  ok(runCdp(["ingest", "--source", "segment", file, "--data-dir", seeded]))
}, 120_000)
afterAll(() => removeDir(root))

/** The test's own. */
let dir: string
let data: string
beforeEach(() => {
  dir = freshDir()
  data = join(dir, "data")
})
afterEach(() => removeDir(dir))

const SAMPLE = [
  { type: "identify", messageId: "w1", userId: "u-ann", timestamp: "2024-09-01T10:05:00.000Z", traits: { email: "Ann@X.example", phone: "+44 7700 900123", name: "Ann Lee" } },
  { type: "track", event: "Order Completed", messageId: "w2", userId: "u-ann", timestamp: "2024-09-02T10:05:00.000Z", properties: { total: 4 } },
  { type: "identify", messageId: "w3", userId: "u-bob", timestamp: "2024-09-01T10:05:00.000Z", traits: { email: "bob@x.example" } },
]

const cdp = (...args: ReadonlyArray<string>) => runCdp([...args, "--data-dir", data])

const ok = (r: { status: number | null; stdout: string; stderr: string }) => {
  expect(r.status, r.stderr).toBe(0)
  return r.stdout
}

/** This test's data dir: its own copy of SAMPLE landed. */
const seed = () => copyDataDir(seeded, data)

/** The id on the first line, alone. */
const submitted = (stdout: string) => {
  const first = stdout.split("\n", 1)[0]!
  expect(first).toMatch(/^dsr_[A-Za-z0-9_-]+$/)
  return first
}

describe("cdp dsr on the data directory", () => {
  it("submit prints the id first, then the status; status, list and audit verify read it back", () => {
    seed()
    const out = ok(cdp("dsr", "submit", "--type", "access", "--email", "ann@x.example"))
    const id = submitted(out)
    expect(out).toContain("status    completed")
    expect(out).toMatch(/bundle {4}dsr\/bundles\/default\/[0-9a-f]{64}\/dsr_/)
    const status = JSON.parse(ok(cdp("dsr", "status", id, "--format", "json")))
    expect(status).toMatchObject({ id, type: "access", status: "completed", overdue: false })
    expect(status.done).toContainEqual({ where: "event_rows", what: "exported", count: 2 })
    expect(status.trail.map((t: { kind: string }) => t.kind)).toEqual(["dsr.received", "dsr.running", "dsr.completed"])
    expect(status.receipt.signature).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(ok(cdp("dsr", "status", id))).toContain("Audit trail")
    const list = ok(cdp("dsr", "list", "--format", "json")).trim().split("\n").map((l) => JSON.parse(l))
    expect(list.map((r: { id: string }) => r.id)).toEqual([id])
    expect(ok(cdp("dsr", "list", "--overdue")).trim()).toBe("no overdue requests")
    expect(ok(cdp("audit", "verify"))).toMatch(/^audit log verified: 3 entries/)
    const log = ok(cdp("audit", "log", "--kind", "dsr.completed,dsr.received", "--format", "json")).trim().split("\n").map((l) => JSON.parse(l))
    expect(log.map((e: { kind: string; requestId: string }) => [e.kind, e.requestId])).toEqual([["dsr.completed", id], ["dsr.received", id]])
  }, 120_000)

  it("--overdue lists a request past its due date that is not completed", async () => {
    const old = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const v = validateDsr({ tenant: "default", type: "portability", identifier: "user_id:u-ann" })
      if (v instanceof DsrInvalid) throw v
      return yield* receiveRequest({ signer: yield* auditSigner(data) }, v, Date.now() - 45 * 86_400_000)
    })).pipe(Effect.provide(Layer.mergeAll(warehouseLayer(backendConfig(data)), objectStoreLayer(backendConfig(data)), Keys.fromDataDir(data)))))
    // Left received by a process that stopped: failed on this start, and still owed.
    const overdue = ok(cdp("dsr", "list", "--overdue", "--format", "json")).trim().split("\n").map((l) => JSON.parse(l))
    expect(overdue).toEqual([expect.objectContaining({ id: old.requestId, status: "failed", overdue: true })])
    expect(ok(cdp("dsr", "list", "--overdue"))).toContain(old.requestId)
  })

  it("audit verify names an edited entry and exits 1", () => {
    seed()
    ok(cdp("dsr", "submit", "--type", "restriction", "--user-id", "u-ann"))
    const file = join(data, "objects", ...entryKey(2).split("/"))
    writeFileSync(file, readFileSync(file, "utf8").replace(/"profiles":1/, '"profiles":2'))
    const r = cdp("audit", "verify")
    expect(r.status).toBe(1)
    expect(r.stdout).toContain("FAILED verification")
    expect(r.stdout).toMatch(/edited: its content does not match its hash/)
    expectOneLineError(r, "the audit log does not verify")
  })

  it("bad input is one line naming it, and touches nothing", () => {
    expectOneLineError(cdp("dsr", "submit", "--type", "deletion", "--email", "ann@x.example"), 'unknown request type "deletion"')
    expectOneLineError(cdp("dsr", "submit", "--type", "access", "--email", "ann@x.example", "--phone", "+447700900123"), "give one identifier, not --email and --phone")
    expectOneLineError(cdp("dsr", "submit", "--type", "access", "--email", "not-an-address"), "e-mail address")
    expectOneLineError(cdp("dsr", "submit", "--type", "rectification", "--user-id", "u1", "--set", "name"), "--set name: expected trait=value")
    expect(existsSync(data)).toBe(false)
    // Nothing was ever submitted here: a status read says the data dir is not there, and does not make it.
    expectOneLineError(cdp("dsr", "status", "dsr_unknown"), "it does not exist, and this command only reads")
    expect(existsSync(data)).toBe(false)
  })
})

describe("flags", () => {
  it("name exactly one identifier; --set is trait=value", () => {
    expect(identifierFromFlags({ email: "ann@x.example" })).toBe("email:ann@x.example")
    expect(identifierFromFlags({ phone: "+447700900123" })).toBe("phone:+447700900123")
    expect(identifierFromFlags({ userId: "u1" })).toBe("user_id:u1")
    expect(identifierFromFlags({ identifier: "twitter_handle:@ann" })).toBe("twitter_handle:@ann")
    expect((identifierFromFlags({}) as DsrInvalid).message).toContain("one of --email, --phone, --user-id or --identifier")
    expect((identifierFromFlags({ userId: "u1", identifier: "email:a@b.example" }) as DsrInvalid).message).toBe("give one identifier, not --user-id and --identifier")
    expect(parseSets(["name=Ann Smith", "note=a=b"])).toEqual({ name: "Ann Smith", note: "a=b" })
    expect(parseSets(["=x"])).toBeInstanceOf(DsrInvalid)
  })
})

describe("cdp dsr through cdp serve", () => {
  it("submit, status and list go through the running server; audit verify reads the log beside it", async () => {
    seed()
    const serve = await startServe(["--data-dir", data])
    try {
      const out = ok(cdp("dsr", "submit", "--type", "objection", "--identifier", "email:ann@x.example", "--format", "json"))
      const id = submitted(out)
      const view = JSON.parse(out.split("\n")[1]!)
      expect(view).toMatchObject({ id, type: "objection", status: "completed", details: { purposes: ["EmailMarketing", "SocialListening"] } })
      const rect = ok(cdp("dsr", "submit", "--type", "rectification", "--user-id", "u-ann", "--set", "name=Ann Smith"))
      submitted(rect)
      expect(rect).toContain("status    completed")
      const status = JSON.parse(ok(cdp("dsr", "status", id, "--format", "json")))
      expect(status.trail.map((t: { kind: string }) => t.kind)).toEqual(["dsr.received", "dsr.running", "dsr.completed"])
      expect(ok(cdp("dsr", "list", "--format", "json")).trim().split("\n")).toHaveLength(2)
      // Six entries of the two requests, and the server's api.access entries (its reads are audited) once flushed.
      const verified = /^audit log verified: (\d+) entries/.exec(ok(cdp("audit", "verify")))
      expect(Number(verified?.[1])).toBeGreaterThanOrEqual(6)
      // The log read through the server, a page at a time.
      const page = ok(cdp("audit", "log", "--kind", "dsr.", "--limit", "4", "--format", "json")).trim().split("\n").map((l) => JSON.parse(l))
      expect(page).toHaveLength(5)
      const seqs = page.slice(0, 4).map((e: { seq: number }) => e.seq)
      expect(seqs).toEqual([...seqs].sort((a, b) => b - a))
      expect(page.slice(0, 4).every((e: { kind: string }) => e.kind.startsWith("dsr."))).toBe(true)
      // The cursor of the log of every tenant, after the page's last entry (bound as the API's lists' are, ingest/pages.ts).
      expect(page[4]).toEqual({ nextCursor: encodePageCursor([seqs[3]!], listOf(AUDIT_LIST, "")) })
      expectOneLineError(cdp("audit", "log", "--limit", "0"), "--limit must be a whole number from 1 to 500")
      expectOneLineError(cdp("dsr", "submit", "--type", "access", "--identifier", "shoe:42"), 'unknown kind "shoe"')
      expectOneLineError(cdp("dsr", "status", "dsr_unknown"), "no data-subject request dsr_unknown")
      // The HTTP API itself: the admin token is needed, and a bad field is named.
      const token = readFileSync(join(data, "admin-token"), "utf8").trim()
      const unauthorised = await fetch(`${serve.url}/v1/dsr`)
      expect(unauthorised.status).toBe(401)
      const bad = await fetch(`${serve.url}/v1/dsr`, {
        method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ type: "access", identifier: 42 }),
      })
      expect(bad.status).toBe(400)
      expect(await bad.json()).toMatchObject({ field: "/identifier" })
    } finally {
      expect(await serve.stop()).toBe(0)
    }
    expect(serve.stdout()).not.toContain("ann@x.example")
  }, 150_000)
})
