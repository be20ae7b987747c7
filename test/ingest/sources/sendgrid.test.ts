import { generateKeyPairSync, sign } from "node:crypto"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { FILE_SOURCES, WEBHOOK_SOURCES } from "../../../ingest/sources/index.ts"
import { parseSendgridWebhook, readSendgridFile, SENDGRID_EVENT_NAMES, verifySendgridSignature } from "../../../ingest/sources/sendgrid.ts"
import { BINARY_JUNK, collect, context, DEV, sorted, split, tempFile, truthChannels, truthIds } from "./helpers.ts"

const DEV_FILE = join(DEV, "email-events.json")
const isDevFile = (source: string) => source === "email-events.json"

const event = (overrides: Record<string, unknown> = {}) => ({
  email: "ann@example.com",
  timestamp: 1726920683,
  event: "delivered",
  sg_event_id: "evt-1",
  sg_message_id: "msg-1.recvd-1",
  category: ["transactional"],
  ...overrides,
})

describe("sendgrid connector on the dev set", () => {
  it("lands every SendGrid item id of the truth once, nothing extra, no dead letters", async () => {
    const { events, deadLetters } = await collect(readSendgridFile(DEV_FILE, context()))
    expect(deadLetters).toEqual([])
    expect(sorted(events.map((e) => e.messageId))).toEqual(sorted(truthIds(isDevFile)))
    expect(truthChannels(isDevFile)).toEqual(new Set(["email"]))
    expect(new Set(events.map((e) => e.channel))).toEqual(new Set(["email"]))
    expect(new Set(events.map((e) => `${e.source}/${e.type}`))).toEqual(new Set(["sendgrid/track"]))
  })

  it("names each SendGrid event type, keys by the address and keeps every other field in properties", async () => {
    const raw = JSON.parse(readFileSync(DEV_FILE, "utf8")) as Array<Record<string, unknown>>
    const { events } = await collect(readSendgridFile(DEV_FILE, context()))
    const byId = new Map(events.map((e) => [e.messageId, e]))
    for (const r of raw) {
      const e = byId.get(r["sg_event_id"] as string)!
      expect(e.event).toBe(SENDGRID_EVENT_NAMES[r["event"] as keyof typeof SENDGRID_EVENT_NAMES])
      expect(e.identifiers).toEqual([{ kind: "email", value: r["email"] }])
      expect(e.timestamp).toBe(new Date((r["timestamp"] as number) * 1000).toISOString())
      expect(e.originalTimestamp).toBe(e.timestamp)
      expect(e.properties["email"]).toBeUndefined()
      expect(e.properties["sg_message_id"]).toBe(r["sg_message_id"])
      expect(e.properties["category"]).toEqual(r["category"])
      for (const field of ["url", "reason", "asm_group_id", "useragent", "ip"]) expect(e.properties[field]).toEqual(r[field])
      expect(e.receivedAt).toBe("2025-01-15T12:00:00.000Z")
      expect([e.tenant, e.userId, e.anonymousId, e.groupId, e.previousId, e.profileId, e.sentAt]).toEqual(["acme", "", "", "", "", "", null])
    }
    const names = new Set(events.map((e) => e.event))
    for (const name of ["Email Delivered", "Email Opened", "Email Link Clicked", "Email Bounced", "Email Dropped",
      "Email Unsubscribed", "Email Group Unsubscribed", "Email Marked as Spam", "Email Processed", "Email Deferred"]) {
      expect(names).toContain(name)
    }
  })

  it("marks unsubscribes, group unsubscribes and spam reports as consent signals, and nothing else", async () => {
    const { events } = await collect(readSendgridFile(DEV_FILE, context()))
    for (const e of events) {
      const expected = { unsubscribe: "unsubscribe", group_unsubscribe: "group_unsubscribe", spamreport: "spamreport" }[e.properties["event"] as string]
      expect(e.properties["consent_signal"]).toBe(expected)
    }
    expect(events.filter((e) => e.properties["consent_signal"] !== undefined).length).toBe(9 + 16 + 6)
  })

  it("a field named consent_signal on an event that states no preference (a custom arg) is no consent signal", () => {
    const base = { email: "ann@x.example", timestamp: 1736942400, sg_message_id: "m.1" }
    const body = JSON.stringify([
      { ...base, event: "open", sg_event_id: "o-1", consent_signal: "group_resubscribe", asm_group_id: 7 },
      { ...base, event: "delivered", sg_event_id: "d-1", consent_signal: "unsubscribe" },
      { ...base, event: "unsubscribe", sg_event_id: "u-1", consent_signal: "group_resubscribe" },
    ])
    const { events } = split(parseSendgridWebhook(body, context()))
    expect(events.map((e) => [e.messageId, e.properties["consent_signal"], e.properties["custom_consent_signal"]])).toEqual([
      ["o-1", undefined, "group_resubscribe"],
      ["d-1", undefined, "unsubscribe"],
      ["u-1", "unsubscribe", "group_resubscribe"],
    ])
  })

  it("reports progress while reading", async () => {
    const seen: Array<number> = []
    await collect(readSendgridFile(DEV_FILE, context({ onProgress: (n) => seen.push(n) })))
    expect(seen.at(-1)).toBe(readFileSync(DEV_FILE).length)
  })

  it("is registered as a file source and a webhook source", () => {
    expect(FILE_SOURCES.get("sendgrid")?.read).toBe(readSendgridFile)
    expect(WEBHOOK_SOURCES.get("sendgrid")?.parse).toBe(parseSendgridWebhook)
  })
})

describe("sendgrid webhook bodies", () => {
  it("a posted array gives the same events as the file", async () => {
    const body = readFileSync(DEV_FILE, "utf8")
    const fromWebhook = split(parseSendgridWebhook(body, context()))
    const fromFile = await collect(readSendgridFile(DEV_FILE, context()))
    expect(fromWebhook).toEqual(fromFile)
  })

  it("a bad event is refused alone, naming the field and the rule; its neighbours land", () => {
    const body = JSON.stringify([
      event({ sg_event_id: "ok-1" }),
      event({ sg_event_id: "bad-event", event: "opened" }),
      event({ sg_event_id: "no-email", email: undefined }),
      event({ sg_event_id: "bad-time", timestamp: "yesterday" }),
      event({ sg_event_id: undefined }),
      event({ sg_event_id: "bad-category", category: [1, 2] }),
      "not an object",
      event({ sg_event_id: "ok-2" }),
    ])
    const { events, deadLetters } = split(parseSendgridWebhook(body, context()))
    expect(events.map((e) => e.messageId)).toEqual(["ok-1", "ok-2"])
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field])).toEqual([
      ["bad-event", "unknown_event", "/event"],
      ["no-email", "missing_email", "/email"],
      ["bad-time", "bad_timestamp", "/timestamp"],
      ["", "missing_event_id", "/sg_event_id"],
      ["bad-category", "wrong_type", "/category/0"],
      ["", "not_object", ""],
    ])
    expect(deadLetters[0]!.rejection.message).toBe(
      'event 2: event must be one of processed, deferred, delivered, open, click, bounce, dropped, unsubscribe, group_unsubscribe, group_resubscribe, spamreport (got "opened")')
    expect(deadLetters[2]!.rejection.message).toBe('event 4: timestamp must be a number (got a string)')
    expect(JSON.parse(deadLetters[0]!.payload)).toEqual(event({ sg_event_id: "bad-event", event: "opened" }))
    expect(deadLetters.every((d) => d.source === "sendgrid" && d.tenant === "acme")).toBe(true)
  })

  it("a body that is not JSON, empty, or not an array of objects is one dead letter, never a throw", () => {
    const cases: Array<[string, string]> = [
      ["[{\"email\":", "not_json"],
      ["", "not_json"],
      ["   ", "not_json"],
      ["42", "not_array"],
      ["null", "not_array"],
      [BINARY_JUNK.toString("latin1"), "not_json"],
    ]
    for (const [body, rule] of cases) {
      const { events, deadLetters } = split(parseSendgridWebhook(body, context()))
      expect(events).toEqual([])
      expect(deadLetters.map((d) => d.rejection.rule)).toEqual([rule])
      expect(deadLetters[0]!.payload).toBe(body)
    }
    expect(split(parseSendgridWebhook("", context())).deadLetters[0]!.rejection.message).toContain("the input is empty")
  })

  it("an empty array is no events and no dead letters", () => {
    expect(parseSendgridWebhook("[]", context())).toEqual([])
  })

  it("a single event object and NDJSON of events are accepted too, a bad line costing only itself", () => {
    expect(split(parseSendgridWebhook(JSON.stringify(event()), context())).events.map((e) => e.messageId)).toEqual(["evt-1"])
    const ndjson = `${JSON.stringify(event({ sg_event_id: "a" }))}\n{broken\n${JSON.stringify(event({ sg_event_id: "b" }))}\n`
    const { events, deadLetters } = split(parseSendgridWebhook(ndjson, context()))
    expect(events.map((e) => e.messageId)).toEqual(["a", "b"])
    expect(deadLetters.map((d) => [d.rejection.rule, d.payload])).toEqual([["not_json", "{broken"]])
    expect(deadLetters[0]!.rejection.message).toMatch(/^line 2: not valid JSON/)
  })

  it("a file of garbage becomes dead letters, not a crash", async () => {
    const junk = await collect(readSendgridFile(tempFile("junk.json", BINARY_JUNK), context()))
    expect(junk.events).toEqual([])
    expect(junk.deadLetters.length).toBeGreaterThan(0)
    const empty = await collect(readSendgridFile(tempFile("empty.json", ""), context()))
    expect(empty.deadLetters.map((d) => d.rejection.rule)).toEqual(["not_json"])
  })
})

describe("verifySendgridSignature", () => {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" })
  const publicKeyBase64 = publicKey.export({ format: "der", type: "spki" }).toString("base64")
  const publicKeyPem = publicKey.export({ format: "pem", type: "spki" }).toString()
  const body = JSON.stringify([event()])
  const timestamp = "1726920700"
  const signature = sign("sha256", Buffer.from(timestamp + body), { key: privateKey, dsaEncoding: "der" }).toString("base64")

  it("accepts the signature SendGrid made over timestamp + raw body, with the key as base64 DER or PEM", () => {
    expect(verifySendgridSignature(publicKeyBase64, body, signature, timestamp)).toBe(true)
    expect(verifySendgridSignature(publicKeyBase64, Buffer.from(body), signature, timestamp)).toBe(true)
    expect(verifySendgridSignature(publicKeyPem, body, signature, timestamp)).toBe(true)
  })

  it("refuses a changed body, a changed timestamp, another key or a malformed signature", () => {
    expect(verifySendgridSignature(publicKeyBase64, body.replace("delivered", "bounce"), signature, timestamp)).toBe(false)
    expect(verifySendgridSignature(publicKeyBase64, body, signature, "1726920701")).toBe(false)
    const other = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey.export({ format: "der", type: "spki" }).toString("base64")
    expect(verifySendgridSignature(other, body, signature, timestamp)).toBe(false)
    expect(verifySendgridSignature(publicKeyBase64, body, "not-a-signature", timestamp)).toBe(false)
    expect(verifySendgridSignature(publicKeyBase64, body, "", timestamp)).toBe(false)
    expect(verifySendgridSignature(publicKeyBase64, body, signature, "")).toBe(false)
  })

  it("refuses, without throwing, a key that is garbage or not ECDSA P-256", () => {
    expect(verifySendgridSignature("garbage!!", body, signature, timestamp)).toBe(false)
    expect(verifySendgridSignature("", body, signature, timestamp)).toBe(false)
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 })
    const rsaKey = rsa.publicKey.export({ format: "der", type: "spki" }).toString("base64")
    const rsaSignature = sign("sha256", Buffer.from(timestamp + body), rsa.privateKey).toString("base64")
    expect(verifySendgridSignature(rsaKey, body, rsaSignature, timestamp)).toBe(false)
  })
})

describe("SendGrid: field names of every JavaScript object", () => {
  it("a field named __proto__ is kept in properties as the sender's field, not as properties' prototype", () => {
    const body = `[${JSON.stringify(event({ sg_event_id: "p1" })).replace(/^\{/, '{"__proto__": {"plan": "pro"}, ')}]`
    const { events, deadLetters } = split(parseSendgridWebhook(body, context()))
    expect(deadLetters).toEqual([])
    expect(Object.keys(events[0]!.properties)).toContain("__proto__")
    expect(JSON.stringify(events[0]!.properties["__proto__"])).toBe('{"plan":"pro"}')
    expect(events[0]!.properties["plan"]).toBeUndefined()
  })
})
