// The shape checks of records read back from a bus topic (ingest/bus.ts Topics.*.check): what a producer outside cdp
// (or a buggy one) may have written. A fault names the field (JSON pointer) and the rule, never the value; the Kafka
// bus parks such a record as bus_record_wrong_shape (test/integration/kafka-poison-records.test.ts).
import { describe, expect, it } from "vitest"
import { Topics } from "../../ingest/bus.ts"
import { viewedEvent } from "../support/kafka.ts"

const event = viewedEvent("m1") as unknown as Record<string, unknown>
const deadLetter = {
  tenant: "acme", source: "segment", receivedAt: "2026-01-02T03:04:06.000Z", messageId: "m1", payload: "{}",
  rejection: { rule: "r", field: "", message: "m" },
}
const raw = { tenant: "acme", source: "segment", messageId: "m1", receivedAt: "2026-01-02T03:04:06.000Z", body: "{}" }
const fault = (field: string, rule: string) => ({ field, rule })

describe("the shape of a record read back from a bus topic", () => {
  it("records of cdp's own shapes fit", () => {
    expect(Topics.events.check!(event)).toBeUndefined()
    expect(Topics.events.check!({ ...event, text: "hi", profileId: "p1" })).toBeUndefined()
    expect(Topics.deadLetters.check!(deadLetter)).toBeUndefined()
    expect(Topics.deadLetters.check!({ ...deadLetter, receivedAt: "2026-01-02T03:04:06+02:00", person: "acme/u1" })).toBeUndefined()
    expect(Topics.raw.check!(raw)).toBeUndefined()
    expect(Topics.raw.check!({ ...raw, meta: {}, json: true, person: "acme/u1" })).toBeUndefined()
    expect(Topics.identityChanges.check!({ tenant: "*", origin: "w1" })).toBeUndefined()
    expect(Topics.identityChanges.check!({ tenant: "acme", origin: "w1", shreddedKeys: ["k1"] })).toBeUndefined()
    expect(Topics.identityChanges.check!({ tenant: "acme", origin: "w1", forgetProfileKeys: ["prof_1"] })).toBeUndefined()
    expect(Topics.identityChanges.check!({ tenant: "acme", origin: "w1", forgetProfileKeys: [5] }))
      .toEqual(fault("/forgetProfileKeys", "must be an array of strings when present"))
  })

  it("a value that is not a JSON object is named as the value", () => {
    for (const v of [null, 42, "text", [], [event], JSON.parse("[".repeat(10_000) + "]".repeat(10_000))]) {
      expect(Topics.events.check!(v)).toEqual(fault("", "must be a JSON object"))
    }
  })

  it("a missing or mistyped field is named by its pointer and rule", () => {
    expect(Topics.events.check!({})).toEqual(fault("/tenant", "must be a string"))
    expect(Topics.events.check!({ ...event, tenant: 5 })).toEqual(fault("/tenant", "must be a string"))
    expect(Topics.events.check!({ ...event, userId: ["u1"] })).toEqual(fault("/userId", "must be a string"))
    expect(Topics.events.check!({ ...event, messageId: undefined })).toEqual(fault("/messageId", "must be a string"))
    expect(Topics.events.check!({ ...event, properties: [] })).toEqual(fault("/properties", "must be an object"))
    expect(Topics.events.check!({ ...event, context: null })).toEqual(fault("/context", "must be an object"))
    expect(Topics.events.check!({ ...event, text: 5 })).toEqual(fault("/text", "must be a string when present"))
    expect(Topics.events.check!({ ...event, profileId: null })).toEqual(fault("/profileId", "must be a string when present"))
    expect(Topics.raw.check!({ ...raw, meta: [] })).toEqual(fault("/meta", "must be an object when present"))
    expect(Topics.raw.check!({ ...raw, json: "yes" })).toEqual(fault("/json", "must be a boolean when present"))
    expect(Topics.raw.check!({ ...raw, body: { text: "{}" } })).toEqual(fault("/body", "must be a string"))
    expect(Topics.identityChanges.check!({ tenant: "acme", origin: "w1", shreddedKeys: ["k1", 5] }))
      .toEqual(fault("/shreddedKeys", "must be an array of strings when present"))
  })

  it("identifiers are an array of {kind, value} strings; a fault inside one is named as the identifiers'", () => {
    const rule = "must be an array of {kind, value} strings"
    for (const identifiers of ["ann@x.example", {}, [["email", "ann@x.example"]], [{ kind: "email" }], [{ kind: "email", value: ["ann@x.example"] }], [{ kind: { k: "email" }, value: "x" }]]) {
      expect(Topics.events.check!({ ...event, identifiers })).toEqual(fault("/identifiers", rule))
    }
    expect(Topics.events.check!({ ...event, identifiers: [{ kind: "email", value: "ann@x.example", extra: 1 }] })).toBeUndefined()
  })

  it("a dead letter's rejection is an object of three strings, each named by its own pointer", () => {
    expect(Topics.deadLetters.check!({ ...deadLetter, rejection: "bad" })).toEqual(fault("/rejection", "must be an object"))
    expect(Topics.deadLetters.check!({ ...deadLetter, rejection: [] })).toEqual(fault("/rejection", "must be an object"))
    expect(Topics.deadLetters.check!({ ...deadLetter, rejection: {} })).toEqual(fault("/rejection/rule", "must be a string"))
    expect(Topics.deadLetters.check!({ ...deadLetter, rejection: { rule: "r", field: "", message: ["m"] } })).toEqual(fault("/rejection/message", "must be a string"))
    expect(Topics.deadLetters.check!({ ...deadLetter, rejection: { rule: "r", field: { deeper: "" }, message: "m" } })).toEqual(fault("/rejection/field", "must be a string"))
    expect(Topics.deadLetters.check!({ ...deadLetter, person: 5 })).toEqual(fault("/person", "must be a string when present"))
  })

  it("a dead letter's receivedAt must be a date and time the warehouse reads", () => {
    const rule = fault("/receivedAt", "must be an ISO-8601 date and time")
    for (const receivedAt of ["yesterday", "2026-01-02", "2026-01-02 03:04:06", 1_767_323_046_000, null]) {
      expect(Topics.deadLetters.check!({ ...deadLetter, receivedAt })).toEqual(rule)
    }
  })

  it("a dead letter's receivedAt that is not on the calendar or outside the warehouse's years is refused, not moved", () => {
    // Date.parse took these (it rolls 30 February over to 1 March, and reads any year): the hand-written check let them through.
    const rule = fault("/receivedAt", "must be an ISO-8601 date and time")
    for (const receivedAt of ["2026-02-30T03:04:06.000Z", "2026-04-31T00:00:00Z", "0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.000Z", "2026-01-02T24:00:00Z"]) {
      expect(Topics.deadLetters.check!({ ...deadLetter, receivedAt }), receivedAt).toEqual(rule)
    }
  })
})
