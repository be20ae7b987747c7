import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { processSegmentRequest } from "../../ingest/segment-api.ts"
import {
  normaliseSegmentMessage,
  type SegmentMessage,
  type SegmentMessageFields,
  validateSegmentMessage,
} from "../../ingest/sources/segment.ts"
import schema from "../../ingest/sources/segment.schema.json" with { type: "json" }
import { SIGNALS_DEV } from "../support/shared.ts"
import { pathToFileURL } from "node:url"

const DEV = pathToFileURL(SIGNALS_DEV)
const lines = (file: string) => readFileSync(new URL(file, DEV), "utf8").split("\n").filter((l) => l !== "")

const ctx = { tenant: "acme", receivedAtMs: Date.parse("2024-10-01T12:00:10.000Z"), correctClockSkew: true }

/** What a line is refused for, the way the collector and `cdp ingest` decide it. */
const ruleFor = (line: string): string | undefined => {
  let message: unknown
  try {
    message = JSON.parse(line)
  } catch {
    return "not_json"
  }
  return validateSegmentMessage(message, Buffer.byteLength(line))?.rule
}

describe("Segment message validation", () => {
  it("refuses every line of the shared invalid.ndjson for the reason its truth file gives", () => {
    const truth = lines("truth/invalid.ndjson").map((l) => JSON.parse(l) as { line: number; kind: string })
    const invalid = lines("invalid.ndjson")
    expect(invalid).toHaveLength(54)
    const got = invalid.map((line, i) => ({ line: i + 1, kind: ruleFor(line) }))
    expect(got).toEqual(truth)
    expect(new Set(truth.map((t) => t.kind)).size).toBe(17)
  })

  it("accepts every message of the shared web.ndjson", () => {
    const refused = lines("web.ndjson").filter((line) => ruleFor(line) !== undefined)
    expect(refused).toEqual([])
  })

  it("names the field as a JSON pointer and says what was wrong with it", () => {
    expect(validateSegmentMessage({ type: "track", event: "x", userId: "u", timestamp: "yesterday" })).toEqual({
      rule: "bad_timestamp", field: "/timestamp",
      message: 'timestamp must be an ISO-8601 date-time string (got "yesterday")',
    })
    expect(validateSegmentMessage({ type: "track", event: "x", userId: ["u"] })).toMatchObject({ field: "/userId", rule: "user_id_not_string" })
    expect(validateSegmentMessage({ type: "group", userId: "u" })).toMatchObject({ field: "/groupId", rule: "missing_group_id" })
  })

  it("refuses consent it cannot read, naming the field, rather than landing the message as if no choice was made", () => {
    const track = (context: Record<string, unknown>) => validateSegmentMessage({ type: "track", event: "x", userId: "u", context })
    expect(track({ consent: { categoryPreferences: { Advertising: "false" } } })).toEqual({
      rule: "bad_consent", field: "/context/consent/categoryPreferences/Advertising",
      message: "context.consent.categoryPreferences.Advertising must be true or false (got a string): a consent choice that cannot be read is refused, not guessed",
    })
    expect(track({ consent: { categoryPreferences: { Analytics: true, Advertising: 0 } } }))
      .toMatchObject({ rule: "bad_consent", field: "/context/consent/categoryPreferences/Advertising" })
    expect(track({ consent: { categoryPreferences: "all" } })).toMatchObject({
      rule: "bad_consent", field: "/context/consent/categoryPreferences",
      message: expect.stringMatching(/^context\.consent\.categoryPreferences must be an object of category: true or false \(got a string\)/),
    })
    expect(track({ consent: "yes" })).toMatchObject({ rule: "bad_consent", field: "/context/consent", message: expect.stringMatching(/^context\.consent must be an object \(got a string\)/) })
    for (const key of ["tcf", "tcString", "gdpr_consent"]) {
      expect(track({ consent: { [key]: 123 } }), key).toMatchObject({
        rule: "bad_consent", field: `/context/consent/${key}`, message: expect.stringMatching(new RegExp(`^context\\.consent\\.${key} must be a TCF consent string \\(got a number\\)`)),
      })
    }
    expect(track({ gdpr_consent: ["CO"] })).toMatchObject({ rule: "bad_consent", field: "/context/gdpr_consent" })
    // Global Privacy Control is a refusal: "1" or "yes" would be lost as silently.
    expect(track({ gpc: "1" })).toEqual({
      rule: "bad_consent", field: "/context/gpc", message: 'context.gpc must be true or false (got a string); the Sec-GPC: 1 header sets it',
    })
    expect(track({ gpc: true })).toBeNull()
    // A key with "/" or "~" is escaped as a JSON pointer; what is readable, or says nothing (null), still lands.
    expect(track({ consent: { categoryPreferences: { "Ads/Email": "y" } } })).toMatchObject({ field: "/context/consent/categoryPreferences/Ads~1Email" })
    // A blank TCF string says nothing; one that does not decode ("CO") is refused (test/consent/edge-tcf.test.ts).
    expect(track({ consent: { categoryPreferences: { Analytics: true, Advertising: false, Later: null }, tcf: "" } })).toBeNull()
    expect(track({ consent: null, gdpr_consent: null })).toBeNull()
  })

  it("refuses an id identity could not link (a control character, over 512 characters) instead of landing it unlinked", () => {
    expect(validateSegmentMessage({ type: "track", event: "x", userId: "ann\u0000x" })).toEqual({
      rule: "bad_id", field: "/userId",
      message: "userId holds the control character U+0000 at character 4: an id with one is never linked to a profile, so it could not be looked up or erased by it",
    })
    expect(validateSegmentMessage({ type: "track", event: "x", anonymousId: "a\tb" })).toMatchObject({ rule: "bad_id", field: "/anonymousId" })
    expect(validateSegmentMessage({ type: "alias", userId: "u", previousId: "p\u001b" })).toMatchObject({ rule: "bad_id", field: "/previousId" })
    expect(validateSegmentMessage({ type: "track", event: "x", userId: "u".repeat(513) })).toEqual({
      rule: "bad_id", field: "/userId", message: "userId is 513 characters; an id may be at most 512 (identity would not link a longer one)",
    })
    expect(validateSegmentMessage({ type: "track", event: "x", userId: ` ${"u".repeat(512)} `, anonymousId: 42 })).toBeNull()
  })

  it("refuses a blank groupId or previousId as missing: a group or alias must name what it joins", () => {
    for (const blank of ["", "   "]) {
      expect(validateSegmentMessage({ type: "group", userId: "u", groupId: blank })).toMatchObject({ field: "/groupId", rule: "missing_group_id" })
      expect(validateSegmentMessage({ type: "alias", userId: "u", previousId: blank })).toMatchObject({ field: "/previousId", rule: "missing_previous_id" })
    }
    expect(validateSegmentMessage({ type: "group", userId: "u", groupId: 0 })).toBeNull()
    expect(validateSegmentMessage({ type: "alias", userId: "u", previousId: "anon-1" })).toBeNull()
  })

  it("accepts an alias whose previousId is its own userId: analytics.js sends exactly that after identify", () => {
    // analytics-next's alias(to, from) is sent with the stored user id as userId, so after identify("user-1"),
    // alias("user-1b", "user-1") arrives as userId "user-1", previousId "user-1" (seen in test/ingest/browser-sdk).
    // It merges nothing; refusing it would dead-letter what an unmodified SDK sends.
    expect(validateSegmentMessage({ type: "alias", userId: "user-1", previousId: "user-1" })).toBeNull()
    expect(validateSegmentMessage({ type: "alias", anonymousId: "a-1", previousId: "a-1" })).toBeNull()
  })

  it("refuses dates that do not exist and accepts offsets", () => {
    expect(validateSegmentMessage({ type: "page", userId: "u", timestamp: "2023-02-29T10:00:00Z" })?.rule).toBe("bad_timestamp")
    expect(validateSegmentMessage({ type: "page", userId: "u", timestamp: "2024-02-29T10:00:00+02:00" })).toBeNull()
  })

  it("treats a number userId as an id and a blank one as missing", () => {
    expect(validateSegmentMessage({ type: "identify", userId: 42 })).toBeNull()
    expect(validateSegmentMessage({ type: "identify", userId: "  ", anonymousId: null })?.rule).toBe("missing_identity")
  })

  it("refuses a number id that JSON cannot carry exactly, instead of merging it with its neighbours", () => {
    // JSON.parse reads 12345678901234567890 and ...891 as the same 12345678901234567000: two people, one profile.
    const sent = JSON.parse('{"type":"identify","userId":12345678901234567890}') as unknown
    expect(validateSegmentMessage(sent)).toEqual({
      rule: "inexact_id", field: "/userId",
      message: "userId 12345678901234567000 is a number past 9007199254740991: JSON readers do not keep all its digits, so it could name another person; send it as a string",
    })
    expect(validateSegmentMessage({ type: "track", event: "E", userId: "u", anonymousId: -9007199254740992 })).toMatchObject({ rule: "inexact_id", field: "/anonymousId" })
    expect(validateSegmentMessage({ type: "group", userId: "u", groupId: 1e21 })).toMatchObject({ rule: "inexact_id", field: "/groupId" })
    expect(validateSegmentMessage({ type: "alias", userId: "u", previousId: 2.5 })).toMatchObject({
      rule: "inexact_id", field: "/previousId", message: "previousId 2.5 is a number that is not whole: send a whole number or a string",
    })
    expect(validateSegmentMessage({ type: "identify", userId: 9007199254740991 })).toBeNull()
    expect(validateSegmentMessage({ type: "identify", userId: "12345678901234567890" })).toBeNull()
  })

  it("describes in the schema every field the TypeScript type names", () => {
    const typed: Record<keyof SegmentMessageFields, true> = {
      type: true, messageId: true, userId: true, anonymousId: true, event: true, name: true, groupId: true,
      previousId: true, timestamp: true, originalTimestamp: true, sentAt: true, properties: true, traits: true,
      context: true, integrations: true,
    }
    expect(Object.keys(schema.properties).sort()).toEqual(Object.keys(typed).sort())
  })
})

describe("Segment message normalisation", () => {
  const base: SegmentMessage = { type: "track", event: "Order Completed", userId: 7, messageId: "m-1" }

  it("corrects the client's clock skew: receivedAt - (sentAt - timestamp)", () => {
    const e = normaliseSegmentMessage({ ...base, timestamp: "2024-10-01T11:00:00.000Z", sentAt: "2024-10-01T11:00:05.000Z" }, ctx)
    expect(e.timestamp).toBe("2024-10-01T12:00:05.000Z")
    expect(e.originalTimestamp).toBe("2024-10-01T11:00:00.000Z")
    expect(e.receivedAt).toBe("2024-10-01T12:00:10.000Z")
  })

  it("keeps the client's time for history (no skew correction) and uses batch sentAt when the message has none", () => {
    const historical = normaliseSegmentMessage({ ...base, timestamp: "2024-01-01T00:00:00Z", sentAt: "2024-02-01T00:00:00Z" }, { ...ctx, correctClockSkew: false })
    expect(historical.timestamp).toBe("2024-01-01T00:00:00.000Z")
    const batched = normaliseSegmentMessage({ ...base, timestamp: "2024-10-01T12:00:00Z" }, { ...ctx, batchSentAt: "2024-10-01T12:00:01Z" })
    expect(batched.timestamp).toBe("2024-10-01T12:00:09.000Z")
  })

  it("writes every time in UTC ISO-8601 with milliseconds, whatever offset or precision was sent", () => {
    const e = normaliseSegmentMessage({ ...base, timestamp: "2024-10-01T13:00:00+01:00", sentAt: "2024-10-01T12:00:01.5Z" }, { ...ctx, correctClockSkew: false })
    expect([e.timestamp, e.originalTimestamp, e.sentAt]).toEqual(["2024-10-01T12:00:00.000Z", "2024-10-01T12:00:00.000Z", "2024-10-01T12:00:01.500Z"])
    const canonical = normaliseSegmentMessage({ ...base, timestamp: "2024-10-01T12:00:00.123Z" }, { ...ctx, correctClockSkew: false })
    expect(canonical.timestamp).toBe("2024-10-01T12:00:00.123Z")
  })

  it("keeps the client's time when correcting an absurd skew would leave the warehouse's range", () => {
    const e = normaliseSegmentMessage({ ...base, timestamp: "1901-01-01T00:00:00.000Z", sentAt: "2290-01-01T00:00:00.000Z" }, ctx)
    expect(e.timestamp).toBe("1901-01-01T00:00:00.000Z")
  })

  it("uses receivedAt when the message has no time at all", () => {
    expect(normaliseSegmentMessage(base, ctx).timestamp).toBe("2024-10-01T12:00:10.000Z")
  })

  it("gives a message without messageId the same id on every retry", () => {
    const { messageId: _, ...noId } = base
    const first = normaliseSegmentMessage({ ...noId, timestamp: "2024-10-01T11:00:00Z", sentAt: "2024-10-01T11:00:01Z" }, ctx)
    const retry = normaliseSegmentMessage({ ...noId, timestamp: "2024-10-01T11:00:00Z", sentAt: "2024-10-01T11:00:09Z" }, { ...ctx, receivedAtMs: ctx.receivedAtMs + 5000 })
    expect(first.messageId).toMatch(/^cdp-[0-9a-f]{32}$/)
    expect(retry.messageId).toBe(first.messageId)
  })

  it("turns ids into strings, keeps unknown fields in extra and merges batch context", () => {
    const e = normaliseSegmentMessage({ ...base, context: { ip: "192.0.2.1" }, channel: "server", _metadata: { a: 1 } }, { ...ctx, batchContext: { library: { name: "x" } } })
    expect(e.userId).toBe("7")
    expect(e.extra).toEqual({ channel: "server", _metadata: { a: 1 } })
    expect(e.context).toEqual({ library: { name: "x" }, ip: "192.0.2.1" })
    expect(e.channel).toBe("web")
  })

  it("keeps an unknown field named __proto__ in extra as the sender's field, not as extra's prototype", () => {
    const sent = JSON.parse('{"type":"track","event":"E","userId":"u","__proto__":{"plan":"pro"},"constructor":"c"}') as SegmentMessage
    const e = normaliseSegmentMessage(sent, ctx)
    expect(Object.keys(e.extra)).toEqual(["__proto__", "constructor"])
    expect(JSON.stringify(e.extra)).toBe('{"__proto__":{"plan":"pro"},"constructor":"c"}')
    expect((e.extra as Record<string, unknown>)["plan"]).toBeUndefined()
  })
})

describe("Segment requests", () => {
  const track = (id: string, properties = "{}", extra = "") =>
    `{"type":"track","event":"E","userId":"u","messageId":"${id}"${extra},"properties":${properties}}`
  const request = (route: "batch" | "import" | "track", body: string) =>
    processSegmentRequest({ route, body, tenant: "acme", receivedAtMs: ctx.receivedAtMs })

  it("refuses a batch whose own context states consent it cannot read, as a message's would be", () => {
    const refused = request("batch", `{"context":{"consent":{"categoryPreferences":{"Advertising":"false"}}},"batch":[${track("b1")}]}`)
    expect(refused.events).toEqual([])
    expect(refused.requestError).toMatchObject({
      rule: "bad_consent", field: "/context/consent/categoryPreferences/Advertising",
      message: expect.stringMatching(/^context\.consent\.categoryPreferences\.Advertising must be true or false \(got a string\)/),
    })
    expect(request("batch", `{"context":{"gpc":"yes"},"batch":[${track("b2")}]}`).requestError).toMatchObject({ rule: "bad_consent", field: "/context/gpc" })
    const readable = request("batch", `{"context":{"consent":{"categoryPreferences":{"Advertising":false}}},"batch":[${track("b3")}]}`)
    expect(readable.requestError).toBeUndefined()
    expect(readable.events[0]!.context).toMatchObject({ consent: { categoryPreferences: { Advertising: false } } })
  })

  it("refuses only the bad messages of a batch, each with its own rule, pointer and text as sent", () => {
    const deep = track("deep", `{"x":${"[".repeat(500)}${"]".repeat(500)}}`)
    const inf = track("inf", '{"v":1e400}')
    const cut = track("cut", String.raw`{"t":"lone \ud83d again"}`)
    const keyed = track("keyed", '{"v":9007199254740993.0}', ',"writeKey":"wk_secret"')
    const result = request("batch", `{"batch":[${track("good-1")},${deep},${inf},${cut},${keyed},${track("good-2")}]}`)
    expect(result.requestError).toBeUndefined()
    expect(result.events.map((e) => e.messageId)).toEqual(["good-1", "good-2"])
    expect(result.rejected).toEqual([
      { index: 1, messageId: "deep", rule: "too_deep", field: `/properties/x${"/0".repeat(98)}`, message: expect.stringContaining("more than 100 levels") },
      { index: 2, messageId: "inf", rule: "number_out_of_range", field: "/properties/v", message: expect.stringMatching(/^\/properties\/v: 1e400 is beyond/) },
      { index: 3, messageId: "cut", rule: "lone_surrogate", field: "/properties/t", message: expect.stringContaining("\\ud83d, half of a UTF-16 surrogate pair") },
      { index: 4, messageId: "keyed", rule: "number_too_precise", field: "/properties/v", message: expect.stringContaining("send it as a string") },
    ])
    expect(result.deadLetters.map((d) => d.payload)).toEqual([deep, inf, cut, keyed.replace("wk_secret", "[redacted]")])
  })

  it("refuses the whole batch for a bad value outside its messages or nesting past the hard cap", () => {
    const outside = request("import", `{"sentAt":1e400,"batch":[${track("good")}]}`)
    expect(outside.requestError).toMatchObject({ rule: "number_out_of_range", field: "/sentAt" })
    expect(outside.events).toEqual([])
    const body = `{"batch":[${track("good")},${"[".repeat(20_000)}${"]".repeat(20_000)}]}`
    const tooDeep = request("batch", body)
    expect(tooDeep.requestError).toMatchObject({ rule: "too_deep", message: expect.stringContaining("more than 10000 levels") })
    expect(tooDeep.deadLetters.map((d) => d.payload)).toEqual([body])
  })

  it("refuses a single message with half a surrogate pair, naming the field", () => {
    const result = request("track", String.raw`{"userId":"u9","event":"lone \ud83d again"}`)
    expect(result.requestError).toMatchObject({ rule: "lone_surrogate", field: "/event", index: 0 })
    expect(result.events).toEqual([])
  })
})
