// The audit log of data-subject requests: a hash chain of signed entries in the object store with a signed head;
// `verifyAudit` (cdp audit verify) must name an edited, reordered or removed entry, and receipts must verify.
import { readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import {
  AUDIT_KEY_FILE, appendAudit, auditSigner, auditTrail, entryKey, readAuditPage, signReceipt, verifyAudit, verifyReceipt,
} from "../../consent/audit.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => {
  dir = freshDir()
})
afterEach(() => removeDir(dir))

const objects = () => join(dir, "objects")
const run = <A, E>(program: Effect.Effect<A, E, ObjectStore>) => Effect.runPromise(program.pipe(Effect.provide(ObjectStore.local(objects()))))
const file = (seq: number) => join(objects(), ...entryKey(seq).split("/"))

/** Five entries about two requests. */
const writeLog = () =>
  run(Effect.gen(function* () {
    const signer = yield* auditSigner(dir)
    for (let i = 1; i <= 5; i++) {
      yield* appendAudit(signer, { kind: i % 2 === 0 ? "dsr.completed" : "dsr.received", tenant: "acme", requestId: `dsr_${i <= 2 ? "a" : "b"}`, data: { count: i } })
    }
    return signer
  }))

const verify = () => run(Effect.flatMap(auditSigner(dir), verifyAudit))

/** The local store with its reads counted: what a reader costs. */
const counting = () => {
  let gets = 0
  let lists = 0
  const inner = Effect.runSync(Effect.gen(function* () {
    return yield* ObjectStore
  }).pipe(Effect.provide(ObjectStore.local(objects()))))
  const layer = Layer.succeed(ObjectStore, {
    ...inner,
    get: (key: string) => Effect.suspend(() => { gets++; return inner.get(key) }),
    list: (prefix: string) => Effect.suspend(() => { lists++; return inner.list(prefix) }),
  })
  return { layer, gets: () => gets, lists: () => lists }
}

describe("audit log", () => {
  it("an untouched log verifies: every entry chains to the one before and is signed", async () => {
    await writeLog()
    const v = await verify()
    expect(v.ok, JSON.stringify(v.problems)).toBe(true)
    expect(v.entries).toBe(5)
    expect(v.headSeq).toBe(5)
    const entries = [1, 2, 3, 4, 5].map((seq) => JSON.parse(readFileSync(file(seq), "utf8")))
    for (let i = 1; i < 5; i++) expect(entries[i].prevHash).toBe(entries[i - 1].hash)
    expect(entries[0].prevHash).toBe("0".repeat(64))
    expect(statSync(join(dir, AUDIT_KEY_FILE)).mode & 0o777).toBe(0o600)
  })

  it("an empty log verifies", async () => {
    expect((await verify()).ok).toBe(true)
  })

  it("an edited entry is named", async () => {
    await writeLog()
    const e = JSON.parse(readFileSync(file(3), "utf8"))
    writeFileSync(file(3), JSON.stringify({ ...e, data: { count: 300 } }))
    const v = await verify()
    expect(v.ok).toBe(false)
    expect(v.problems).toEqual([expect.objectContaining({ seq: 3, problem: expect.stringMatching(/^edited/) })])
  })

  it("an edit with its hash recomputed is caught by the signature and by the next entry's link", async () => {
    await writeLog()
    const { createHash } = await import("node:crypto")
    const { canonicalJson } = await import("../../consent/audit.ts")
    const e = JSON.parse(readFileSync(file(2), "utf8"))
    const edited = { ...e, data: { count: 0 } }
    edited.hash = createHash("sha256").update(canonicalJson({
      seq: edited.seq, at: edited.at, kind: edited.kind, tenant: edited.tenant, requestId: edited.requestId, data: edited.data,
      prevHash: edited.prevHash, keyId: edited.keyId,
    })).digest("hex")
    writeFileSync(file(2), JSON.stringify(edited))
    const v = await verify()
    expect(v.problems.map((p) => [p.seq, p.problem.split(":")[0]])).toEqual([[2, "not signed by this deployment's audit key"], [3, "broken chain"]])
  })

  it("two swapped entries are named as reordered", async () => {
    await writeLog()
    const two = readFileSync(file(2))
    writeFileSync(file(2), readFileSync(file(4)))
    writeFileSync(file(4), two)
    const v = await verify()
    expect(v.ok).toBe(false)
    const reordered = v.problems.filter((p) => p.problem.startsWith("reordered"))
    expect(reordered.map((p) => p.seq)).toEqual([2, 4])
  })

  it("an entry removed from the middle is named", async () => {
    await writeLog()
    rmSync(file(3))
    const v = await verify()
    expect(v.ok).toBe(false)
    expect(v.problems).toContainEqual(expect.objectContaining({ seq: 4, problem: "removed: entries 3..3 are missing before this one" }))
  })

  it("entries removed from the end are caught by the signed head", async () => {
    await writeLog()
    rmSync(file(5))
    rmSync(file(4))
    const v = await verify()
    expect(v.ok).toBe(false)
    expect(v.problems).toEqual([expect.objectContaining({ problem: "removed: the signed head names entry 5 but the log ends at 3" })])
  })

  it("renumbering the files after a removal does not hide it", async () => {
    await writeLog()
    rmSync(file(3))
    renameSync(file(4), file(3))
    renameSync(file(5), file(4))
    const v = await verify()
    expect(v.ok).toBe(false)
    expect(v.problems.some((p) => p.problem.startsWith("reordered"))).toBe(true)
  })

  it("a log signed with another key does not verify", async () => {
    await writeLog()
    rmSync(join(dir, AUDIT_KEY_FILE))
    const v = await verify()
    expect(v.ok).toBe(false)
    expect(v.problems.filter((p) => p.problem.includes("audit key"))).toHaveLength(6)
  })

  it("an entry past the signed head (an append in progress) is not a problem; the head's own entry replaced is", async () => {
    const signer = await writeLog()
    const head = readFileSync(join(objects(), "audit", "head.json"))
    await run(appendAudit(signer, { kind: "dsr.failed", tenant: "acme", requestId: "dsr_c", data: {} }))
    writeFileSync(join(objects(), "audit", "head.json"), head)
    expect((await verify()).ok).toBe(true)
    // Entries 5 and 6 dropped and 6 renamed to 5: it chains and is signed, but it is not what the head names.
    rmSync(file(5))
    renameSync(file(6), file(5))
    const v = await verify()
    expect(v.ok).toBe(false)
    expect(v.problems.map((p) => p.problem.split(":")[0])).toContain("replaced")
  })

  it("a crash between writing an entry and the head is picked up by the next append", async () => {
    const signer = await writeLog()
    const head = readFileSync(join(objects(), "audit", "head.json"))
    await run(appendAudit(signer, { kind: "dsr.failed", tenant: "acme", requestId: "dsr_c", data: {} }))
    writeFileSync(join(objects(), "audit", "head.json"), head)
    await run(appendAudit(signer, { kind: "dsr.received", tenant: "acme", requestId: "dsr_d", data: {} }))
    const v = await verify()
    expect(v.ok, JSON.stringify(v.problems)).toBe(true)
    expect(v.entries).toBe(7)
  })

  it("a request's trail is its entries in order", async () => {
    await writeLog()
    const trail = await run(auditTrail("dsr_b"))
    expect(trail.map((e) => e.seq)).toEqual([3, 4, 5])
  })

  it("a trail is read through its request's index: a few objects however long the log is", async () => {
    const signer = await writeLog()
    await run(Effect.forEach(Array.from({ length: 200 }, (_, i) => i), (i) =>
      appendAudit(signer, { kind: "api.access", tenant: "acme", requestId: "", data: { records: [{ n: i }] } }), { discard: true }))
    await run(appendAudit(signer, { kind: "dsr.failed", tenant: "acme", requestId: "dsr_b", data: {} }))
    const counted = counting()
    const trail = await Effect.runPromise(auditTrail("dsr_b").pipe(Effect.provide(counted.layer)))
    expect(trail.map((e) => [e.seq, e.kind])).toEqual([[3, "dsr.received"], [4, "dsr.completed"], [5, "dsr.received"], [206, "dsr.failed"]])
    expect(counted.gets()).toBeLessThanOrEqual(6)
    expect(counted.lists()).toBe(0)
  })

  it("a log written before the index existed is indexed by the next append, and its trails stay whole", async () => {
    await writeLog()
    rmSync(join(objects(), "audit", "index"), { recursive: true })
    // Unindexed: the trail is found by reading the log.
    expect((await run(auditTrail("dsr_a"))).map((e) => e.seq)).toEqual([1, 2])
    await run(Effect.flatMap(auditSigner(dir), (signer) => appendAudit(signer, { kind: "dsr.running", tenant: "acme", requestId: "dsr_a", data: {} })))
    const counted = counting()
    expect((await Effect.runPromise(auditTrail("dsr_a").pipe(Effect.provide(counted.layer)))).map((e) => e.seq)).toEqual([1, 2, 6])
    expect(counted.lists()).toBe(0)
    expect((await verify()).ok).toBe(true)
  })

  it("an index naming an entry that was never written (a crash between the two) is passed over", async () => {
    await writeLog()
    writeFileSync(join(objects(), "audit", "index", "request", "dsr_b.json"), JSON.stringify({ seqs: [3, 4, 5, 6] }))
    expect((await run(auditTrail("dsr_b"))).map((e) => e.seq)).toEqual([3, 4, 5])
  })

  it("pages of the log read a bounded number of entries, newest first, and together give every match once", async () => {
    const signer = await writeLog()
    await run(Effect.forEach(Array.from({ length: 300 }, (_, i) => i), (i) =>
      appendAudit(signer, { kind: i % 3 === 0 ? "dsr.received" : "api.access", tenant: i % 2 === 0 ? "acme" : "globex", requestId: "", data: { i } }), { discard: true }))
    const counted = counting()
    const page = await Effect.runPromise(readAuditPage({ limit: 10 }).pipe(Effect.provide(counted.layer)))
    expect(page.entries.map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 305 - i))
    expect(page.nextCursor).toBe(296)
    expect(counted.gets()).toBeLessThanOrEqual(10 + 2 + 32)
    expect(counted.lists()).toBe(0)
    // Filtered, page by page: exactly the matching entries, each once.
    const seen: Array<number> = []
    let cursor: number | null | undefined
    do {
      const p = await run(readAuditPage({ tenant: "acme", kinds: ["dsr."], limit: 7, ...(cursor === undefined || cursor === null ? {} : { beforeSeq: cursor }) }))
      seen.push(...p.entries.map((e) => e.seq))
      cursor = p.nextCursor
    } while (cursor !== null)
    const expected = [...Array.from({ length: 300 }, (_, i) => i).filter((i) => i % 3 === 0 && i % 2 === 0).map((i) => i + 6).reverse(), 5, 4, 3, 2, 1]
    expect(seen).toEqual(expected)
  })

  it("a page without filters reads only the entries it shows (and the head), whatever its size", async () => {
    const signer = await writeLog()
    await run(Effect.forEach(Array.from({ length: 95 }, (_, i) => i), (i) =>
      appendAudit(signer, { kind: "api.access", tenant: "acme", requestId: "", data: { i } }), { discard: true }))
    for (const [limit, beforeSeq, seqs] of [[1, undefined, [100]], [3, undefined, [100, 99, 98]], [2, 50, [49, 48]], [10, 4, [3, 2, 1]]] as const) {
      const counted = counting()
      const page = await Effect.runPromise(readAuditPage({ limit, ...(beforeSeq === undefined ? {} : { beforeSeq }) }).pipe(Effect.provide(counted.layer)))
      expect(page.entries.map((e) => e.seq)).toEqual(seqs)
      // The entries shown, the head, and the look for an entry written after it (none).
      expect(counted.gets(), `limit ${limit}, before ${beforeSeq}`).toBe(seqs.length + 2)
    }
  })

  it("a filtered page reads what it shows and a few more, not a chunk of 32 for a page of one", async () => {
    const signer = await writeLog()
    await run(Effect.forEach(Array.from({ length: 95 }, (_, i) => i), (i) =>
      appendAudit(signer, { kind: i % 2 === 1 ? "dsr.received" : "api.access", tenant: "acme", requestId: "", data: { i } }), { discard: true }))
    const counted = counting()
    const page = await Effect.runPromise(readAuditPage({ kinds: ["dsr.received"], limit: 1 }).pipe(Effect.provide(counted.layer)))
    expect(page.entries.map((e) => e.seq)).toEqual([99])
    expect(counted.gets()).toBeLessThanOrEqual(2 + 3)
  })

  it("time bounds are found by bisection and applied exactly", async () => {
    const signer = await run(auditSigner(dir))
    const t0 = Date.parse("2026-01-01T00:00:00Z")
    await run(Effect.forEach(Array.from({ length: 500 }, (_, i) => i), (i) =>
      appendAudit(signer, { kind: "api.access", tenant: "acme", requestId: "", data: {}, atMs: t0 + i * 60_000 }), { discard: true }))
    const counted = counting()
    const page = await Effect.runPromise(readAuditPage({ sinceMs: t0 + 100 * 60_000, untilMs: t0 + 110 * 60_000, limit: 100 }).pipe(Effect.provide(counted.layer)))
    expect(page.entries.map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => 110 - i))
    expect(page.nextCursor).toBeNull()
    // Two bisections and the window with its slack, not 500 entries.
    expect(counted.gets()).toBeLessThan(250)
  })

  it("the log holds no file outside audit/", async () => {
    await writeLog()
    expect(readdirSync(objects())).toEqual(["audit"])
  })
})

describe("receipts", () => {
  it("a signed receipt verifies; an edited one does not", async () => {
    const signer = await Effect.runPromise(auditSigner(dir))
    const receipt = signReceipt(signer, { requestId: "dsr_x", done: [{ where: "events", what: "erased", count: 3 }] })
    expect(verifyReceipt(signer, receipt)).toBe(true)
    expect(verifyReceipt(signer, { ...receipt, done: [{ where: "events", what: "erased", count: 4 }] })).toBe(false)
    // Key order does not matter: the signature covers canonical JSON.
    const reordered = Object.fromEntries(Object.entries(receipt).reverse())
    expect(Object.keys(reordered)[0]).toBe("signature")
    expect(verifyReceipt(signer, reordered)).toBe(true)
  })
})
