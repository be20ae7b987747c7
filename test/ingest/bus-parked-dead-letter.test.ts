// The dead letter the Kafka bus makes of a record it parks (ingest/bus-kafka.ts parkedDeadLetter): the rule names the
// cause, the reason names topic, partition and offset and why `cdp dlq retry` cannot re-drive it, and the payload is
// the value as it was on the topic. The path through a real broker is test/integration/kafka-parked-dead-letters.test.ts.
import type { KafkaMessage } from "kafkajs"
import { describe, expect, it } from "vitest"
import { parkedDeadLetter, RecordNotJson } from "../../ingest/bus-kafka.ts"
import { UndecodableBatch } from "../../ingest/bus-kafka-codecs.ts"
import { RecordUnreadable } from "../../ingest/bus-crypto.ts"

const record = (value: Buffer, headers: Record<string, Buffer> = {}): KafkaMessage => ({
  key: Buffer.from("acme/u1"), value, headers, offset: "42", timestamp: "1767322800000", attributes: 0,
})

describe("parkedDeadLetter", () => {
  it("a record that is not JSON keeps its text, under its key's tenant, with rule bus_record_not_json", () => {
    const d = parkedDeadLetter("cdp.events", 3, record(Buffer.from("ann@x.example")), new RecordNotJson({ bytes: 13 }))
    expect(d).toMatchObject({ tenant: "acme", source: "kafka:cdp.events", payload: "ann@x.example", receivedAt: "2026-01-02T03:00:00.000Z" })
    expect(d.rejection.rule).toBe("bus_record_not_json")
    expect(d.rejection.message).toContain("the record's value is not JSON (13 bytes); parked on cdp.events.parked from partition 3 offset 42")
    expect(d.rejection.message).toContain("cdp dlq retry cannot re-drive a bus record")
  })

  it("a record whose value is not UTF-8 keeps its bytes, as base64 marked so (not its text with U+FFFD)", () => {
    const value = Buffer.concat([Buffer.from("caf", "latin1"), Buffer.from([0xe8, 0xff, 0x00])])
    const d = parkedDeadLetter("cdp.events", 3, record(value), new RecordNotJson({ bytes: value.length }))
    expect(d.payloadEncoding).toBe("base64")
    expect(Buffer.from(d.payload, "base64").equals(value)).toBe(true)
    expect(parkedDeadLetter("cdp.events", 3, record(Buffer.from("ann@x.example")), new RecordNotJson({ bytes: 13 })).payloadEncoding).toBeUndefined()
  })

  it("a sealed record that fails authentication keeps its sealed bytes in base64, with rule bus_record_unreadable", () => {
    const sealed = Buffer.from([1, 0, 255, 254, 7])
    const d = parkedDeadLetter("cdp.events", 0, record(sealed, { "cdp-key": Buffer.from("k1.abc") }), new RecordUnreadable({ reason: "it is too short" }))
    expect(d.payload).toBe(sealed.toString("base64"))
    expect(d.payloadEncoding).toBe("base64")
    expect(d.rejection.rule).toBe("bus_record_unreadable")
    expect(d.rejection.message).toContain("sealed value in base64 (cdp-key k1.abc)")
  })

  it("another defect is bus_handler_died; a record without a key has tenant \"\"", () => {
    const d = parkedDeadLetter("cdp.raw", 0, { ...record(Buffer.from("{}")), key: null }, new Error("a bug"))
    expect(d).toMatchObject({ tenant: "", rejection: { rule: "bus_handler_died" } })
  })

  it("the rule follows the defect's type, not its words: a handler's bug that quotes a rule's words is bus_handler_died", () => {
    const d = parkedDeadLetter("cdp.raw", 0, record(Buffer.from("{}")), new Error("the record's value is not JSON, said a handler"))
    expect(d.rejection.rule).toBe("bus_handler_died")
    expect(d.rejection.message).toContain("the record's value is not JSON, said a handler; parked on cdp.raw.parked")
  })

  it("a record stamped with a time no Date holds, or past the warehouse's years, is dated when it was parked, and says so", () => {
    const before = Date.now()
    for (const timestamp of ["9000000000000000", String(Date.UTC(2500, 0, 1))]) {
      const d = parkedDeadLetter("cdp.events", 0, { ...record(Buffer.from("junk")), timestamp }, new RecordNotJson({ bytes: 4 }))
      expect(Date.parse(d.receivedAt)).toBeGreaterThanOrEqual(before)
      expect(d.rejection.message).toContain(`offset 42; its Kafka timestamp ${timestamp} is no time the warehouse stores, so it is dated when it was parked;`)
    }
  })

  it("a compressed batch that could not be read is bus_batch_corrupt or bus_batch_too_large, its payload where the batch is", () => {
    const batch = (tooLarge: boolean) => new UndecodableBatch({
      codec: "LZ4", tooLarge, reason: "it is cut off", firstOffset: "40", lastOffset: "45", records: 3, topic: "cdp.events", partition: 2,
    })
    const d = parkedDeadLetter("cdp.events", 2, { ...record(Buffer.alloc(0)), key: null, value: null }, batch(false))
    expect(d).toMatchObject({ tenant: "", rejection: { rule: "bus_batch_corrupt" }, receivedAt: "2026-01-02T03:00:00.000Z" })
    expect(JSON.parse(d.payload)).toEqual({ topic: "cdp.events", partition: 2, firstOffset: "40", lastOffset: "45", records: 3, codec: "LZ4" })
    expect(d.rejection.message).toContain("a Kafka record batch compressed with LZ4 is corrupt: it is cut off; its 3 record(s), offsets 40 to 45 of topic cdp.events partition 2, were not read")
    expect(parkedDeadLetter("cdp.events", 2, record(Buffer.alloc(0)), batch(true)).rejection.rule).toBe("bus_batch_too_large")
  })

  it("without its value (too large for a dead letter record), the payload says where the record is and the reason says why", () => {
    const d = parkedDeadLetter("cdp.events", 3, record(Buffer.alloc(8_000_000, 0xff)), new RecordNotJson({ bytes: 8_000_000 }), undefined, false)
    expect(JSON.parse(d.payload)).toEqual({ topic: "cdp.events", partition: 3, offset: "42", bytes: 8_000_000 })
    expect(d).toMatchObject({ tenant: "acme", rejection: { rule: "bus_record_not_json" } })
    expect(d.rejection.message).toContain("offset 42; the value (8000000 bytes) does not fit in a dead letter record: the payload says where it is, on cdp.events until the topic's retention.")
  })
})
