// The Kafka bus's record codec (ingest/bus-crypto.ts) with its keys in the real embedded warehouse: what an edge
// seals a worker opens; an altered record or a wrong key is refused, never read; a record whose data key was deleted
// is a shredded outcome, counted, and others' records still open.
import { Effect, Exit } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { makeKeys } from "../../consent/keys.ts"
import { Topics } from "../../ingest/bus.ts"
import { KEY_HEADER, makeBusCodec, openValue, type ReceivedMessage, sealValue, warehouseKeyStore, type WireMessage } from "../../ingest/bus-crypto.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { shredDataKeys } from "../../warehouse/bus-keys.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"

const dirs: Array<string> = []
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d)
})

const secret = new Uint8Array(32).fill(3)

const event = (userId: string, messageId: string, email: string): CanonicalEvent => ({
  tenant: "acme", messageId, type: "identify", event: "", anonymousId: "", userId, groupId: "", previousId: "", channel: "web",
  source: "segment", timestamp: "2026-11-02T10:00:00.000Z", originalTimestamp: null, sentAt: null, receivedAt: "2026-11-02T10:00:00.000Z",
  properties: {}, traits: { email }, context: {}, extra: {}, identifiers: [], text: "", profileId: "",
})

/** What a consumer receives of a sent message. */
const received = (m: WireMessage): ReceivedMessage => ({
  value: Buffer.isBuffer(m.value) ? Buffer.from(m.value) : Buffer.from(m.value, "utf8"), headers: m.headers ?? {},
})

/** Runs `program` with a fresh embedded warehouse. */
const withWarehouse = <A, E>(program: Effect.Effect<A, E, Warehouse>) => {
  const dir = freshDir("cdp-bus-crypto-")
  dirs.push(dir)
  return withEmbeddedWarehouse(dir, program)
}

describe("the Kafka bus's record codec", () => {
  it("an edge's sealed records open at a worker sharing the warehouse, with no identifier in key, value or header", () =>
    withWarehouse(Effect.gen(function* () {
      const store = warehouseKeyStore(yield* Warehouse)
      const edge = makeBusCodec(makeKeys(secret), store)
      const worker = makeBusCodec(makeKeys(secret), store)
      const events = [event("ann-4711", "m1", "ann@mail.example"), event("bob-0815", "m2", "bob@mail.example"), event("ann-4711", "m3", "ann@mail.example")]
      const sent = yield* edge.encode(Topics.events, events, Topics.events.key)
      for (const m of sent) {
        const bytes = Buffer.concat([Buffer.from(m.key), Buffer.from(m.value), Buffer.from(JSON.stringify(m.headers))]).toString("latin1")
        expect(bytes).not.toMatch(/ann|bob|mail\.example/)
      }
      // One person's records of a publish travel together under one Kafka key (so one partition, in their order);
      // two people's under two.
      expect(sent).toHaveLength(2)
      expect(sent[0]!.key).not.toBe(sent[1]!.key)
      const opened = yield* worker.decode(sent.map(received))
      expect(opened).toEqual({ records: [events[0], events[2], events[1]], shredded: 0 })
    })), 60_000)

  it("an altered value, an altered header and a value sealed under another key are refused", () => {
    const key = { keyId: "a".repeat(32), dk: "b".repeat(16), key: Buffer.alloc(32, 1) }
    const header = `${key.keyId}.${key.dk}`
    const sealed = sealValue(key, Buffer.from('{"userId":"ann"}'))
    expect(openValue(key.key, header, sealed).toString()).toBe('{"userId":"ann"}')
    const flipped = Buffer.from(sealed)
    flipped[20] = flipped[20]! ^ 1
    expect(() => openValue(key.key, header, flipped)).toThrow(/does not authenticate/)
    expect(() => openValue(key.key, `${key.keyId}.${"c".repeat(16)}`, sealed)).toThrow(/does not authenticate/)
    expect(() => openValue(Buffer.alloc(32, 2), header, sealed)).toThrow(/does not authenticate/)
    expect(() => openValue(key.key, header, sealed.subarray(0, 20))).toThrow(/too short/)
  })

  it("a tampered record makes decode die (the bus parks it) and a foreign secret fails without skipping anything", () =>
    withWarehouse(Effect.gen(function* () {
      const store = warehouseKeyStore(yield* Warehouse)
      const edge = makeBusCodec(makeKeys(secret), store)
      const [m] = yield* edge.encode(Topics.events, [event("ann-4711", "m1", "ann@mail.example")], Topics.events.key)
      const bytes = Buffer.from(m!.value)
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1
      const tampered = { ...received(m!), value: bytes }
      const died = yield* Effect.exit(makeBusCodec(makeKeys(secret), store).decode([tampered]))
      expect(Exit.isFailure(died) && died.cause.reasons.some((r) => r._tag === "Die" && String(r.defect).includes("does not authenticate"))).toBe(true)
      // Another data dir's secret cannot unwrap the stored key: a failure the bus retries, not a shredded record.
      const foreign = yield* Effect.exit(makeBusCodec(makeKeys(new Uint8Array(32).fill(9)), store).decode([received(m!)]))
      expect(Exit.isFailure(foreign) && foreign.cause.reasons.some((r) => r._tag === "Fail" && (r.error as { _tag: string })._tag === "DataKeyUnwrapFailed")).toBe(true)
      // A key this warehouse never held (the writer keeps its keys elsewhere) is not "shredded": it fails, retried.
      const stray = { keyId: "d".repeat(32), dk: "e".repeat(16), key: Buffer.alloc(32, 4) }
      const unknown = yield* Effect.exit(makeBusCodec(makeKeys(secret), store).decode([
        { value: sealValue(stray, Buffer.from("{}")), headers: { [KEY_HEADER]: `${stray.keyId}.${stray.dk}` } }]))
      expect(Exit.isFailure(unknown) && unknown.cause.reasons.some((r) => r._tag === "Fail" && (r.error as { _tag: string })._tag === "DataKeyUnknown")).toBe(true)
    })), 60_000)

  it("a record whose data key was deleted is counted as shredded; another person's records still open; a new key follows", () =>
    withWarehouse(Effect.gen(function* () {
      const store = warehouseKeyStore(yield* Warehouse)
      const edge = makeBusCodec(makeKeys(secret), store)
      const ann = event("ann-4711", "m1", "ann@mail.example")
      const bob = event("bob-0815", "m2", "bob@mail.example")
      const sent = yield* edge.encode(Topics.events, [ann, bob], Topics.events.key)
      const annKeyId = sent[0]!.key
      expect(sent[0]!.headers![KEY_HEADER]!.startsWith(`${annKeyId}.`)).toBe(true)
      expect(yield* shredDataKeys("acme", [annKeyId])).toEqual({ keyIds: [annKeyId], keys: 1 })
      const worker = makeBusCodec(makeKeys(secret), store)
      expect(yield* worker.decode(sent.map(received))).toEqual({ records: [bob], shredded: 1 })
      expect(worker.shredded()).toBe(1)
      // Told of the erasure, the edge makes a new key for the same person key: new records open, old ones stay shredded.
      edge.forget([annKeyId])
      const [again] = yield* edge.encode(Topics.events, [{ ...ann, messageId: "m9" }], Topics.events.key)
      expect(again!.headers![KEY_HEADER]).not.toBe(sent[0]!.headers![KEY_HEADER])
      expect(yield* worker.decode([received(again!), received(sent[0]!)])).toEqual({ records: [{ ...ann, messageId: "m9" }], shredded: 1 })
    })), 60_000)

  it("a person's records beyond one group's bytes are split over several messages, compressed, in order", () =>
    withWarehouse(Effect.gen(function* () {
      const store = warehouseKeyStore(yield* Warehouse)
      const many = Array.from({ length: 1500 }, (_, i) => ({ ...event("ann-4711", `m${i}`, "ann@mail.example"), properties: { n: i, pad: "x".repeat(500) } }))
      const sent = yield* makeBusCodec(makeKeys(secret), store).encode(Topics.events, many, Topics.events.key)
      expect(sent.length).toBeGreaterThan(1)
      expect(new Set(sent.map((m) => m.key)).size).toBe(1)
      // zstd inside the seal: far fewer bytes than the JSON (the values are alike).
      expect(sent.reduce((n, m) => n + m.value.length, 0)).toBeLessThan(JSON.stringify(many).length / 5)
      expect((yield* makeBusCodec(makeKeys(secret), store).decode(sent.map(received))).records).toEqual(many)
    })), 60_000)

  it("a cache smaller than one publish's people still seals and opens every record", () =>
    withWarehouse(Effect.gen(function* () {
      const store = warehouseKeyStore(yield* Warehouse)
      const events = Array.from({ length: 5 }, (_, i) => event(`person-${i}`, `m${i}`, `p${i}@mail.example`))
      const sent = yield* makeBusCodec(makeKeys(secret), store, 1).encode(Topics.events, events, Topics.events.key)
      expect(new Set(sent.map((m) => m.key)).size).toBe(5)
      expect(yield* makeBusCodec(makeKeys(secret), store, 1).decode(sent.map(received))).toEqual({ records: events, shredded: 0 })
    })), 60_000)

  it("notices of identity_changes stay plain JSON, and plain records written before encryption still read", () =>
    withWarehouse(Effect.gen(function* () {
      const codec = makeBusCodec(makeKeys(secret), warehouseKeyStore(yield* Warehouse))
      const [notice] = yield* codec.encode(Topics.identityChanges, [{ tenant: "*", origin: "p1" }], Topics.identityChanges.key)
      expect(notice).toEqual({ key: "*", value: '{"tenant":"*","origin":"p1"}' })
      const old = { value: Buffer.from(JSON.stringify(event("u1", "m0", "x@y.example"))) }
      expect((yield* codec.decode([old])).records).toEqual([event("u1", "m0", "x@y.example")])
    })), 60_000)
})
