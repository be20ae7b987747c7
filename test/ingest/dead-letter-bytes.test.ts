// A dead letter keeps the bytes it was refused with. A mail in windows-1252 (any 8-bit MIME part) was kept as
// raw.toString("utf8"), its 0xE8 bytes turned into U+FFFD: no retry, and no one reading it, could get the message back.
// Bytes that are not UTF-8 are now kept as base64 with payload_encoding 'base64'; a retry hands its parser the bytes.
import { createHash } from "node:crypto"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { listDeadLetters, retryDeadLetters } from "../../ingest/dlq.ts"
import { importFile } from "../../ingest/import.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { parseEmailWebhook } from "../../ingest/sources/email.ts"
import { itemMaker } from "../../ingest/sources/items.ts"
import { deadLetterId } from "../../warehouse/sink.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"
import { context, split } from "./sources/helpers.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** A mail in windows-1252: "caf\xe8" in the Subject, "Tr\xe8s" in the body, no Message-ID (its id is a hash of its bytes). */
const latinMail = (date: string): Buffer => Buffer.concat([
  Buffer.from(`From: Ann <ann@x.example>\r\nTo: support@shop.example\r\nSubject: caf`, "latin1"), Buffer.from([0xe8]),
  Buffer.from(`\r\nDate: ${date}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=windows-1252\r\n\r\nTr`, "latin1"),
  Buffer.from([0xe8]), Buffer.from("s bien, merci\r\n", "latin1"),
])
const GOOD_DATE = "Mon, 2 Sep 2024 11:39:49 +0000"

interface StoredLetter { readonly payload: string; readonly payload_encoding: string; readonly rule: string }
const storedBytes = (row: StoredLetter): Buffer =>
  row.payload_encoding === "base64" ? Buffer.from(row.payload, "base64") : Buffer.from(row.payload, "utf8")

describe("dead letters keep the bytes they were refused with", () => {
  it("a refused windows-1252 mail (cdp ingest --source email) is kept byte for byte, and a retry parses those bytes", () =>
    withPipeline(dir, Effect.gen(function* () {
      const raw = latinMail("someday soon")
      const file = join(dir, "latin.eml")
      writeFileSync(file, raw)
      expect(yield* importFile("email", file, { tenant: "acme" })).toMatchObject({ accepted: 0, rejected: 1 })
      const rows = yield* query<StoredLetter>("SELECT payload, payload_encoding, rule FROM dead_letters")
      expect(rows.map((r) => [r.rule, r.payload_encoding])).toEqual([["bad_timestamp", "base64"]])
      expect(storedBytes(rows[0]!).equals(raw)).toBe(true)
      expect((yield* listDeadLetters()).map((d) => d.payloadEncoding)).toEqual(["base64"])
      // Read again from its bytes, it is refused for its date, as it was (not as a mail that is no mail).
      const summary = yield* retryDeadLetters()
      expect(summary.results.map((r) => [r.outcome, r.rule])).toEqual([["still_rejected", "bad_timestamp"]])
    })), 60_000)

  it("once its connector takes it, a retry lands exactly the original message: the same id and text as its raw gives", () =>
    withPipeline(dir, Effect.gen(function* () {
      const raw = latinMail(GOOD_DATE)
      // As an older connector refused it (the same bytes, through the one way a connector makes a dead letter).
      const refused = split([itemMaker(context(), "email", "email").deadLetter(raw, { rule: "older_rule", field: "", message: "refused then" })])
      yield* (yield* Pipeline).submit([], refused.deadLetters)
      const summary = yield* retryDeadLetters()
      const direct = split(yield* Effect.promise(() => parseEmailWebhook(raw, context()))).events[0]!
      expect(direct.messageId).toBe(`cdp-mail-${createHash("sha256").update(raw).digest("hex").slice(0, 32)}`)
      expect(summary.results.map((r) => [r.outcome, r.messageIds])).toEqual([["landed", [direct.messageId]]])
      expect(yield* query("SELECT message_id, text FROM texts")).toEqual([{ message_id: direct.messageId, text: direct.text }])
      expect(direct.text).toContain("Très bien")
    })), 60_000)

  it("a refused UTF-8 mail is kept as before: its text, payload_encoding 'utf8', the same dead-letter id", () =>
    withPipeline(dir, Effect.gen(function* () {
      const text = `From: Ann <ann@x.example>\r\nSubject: café\r\nDate: someday\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nTrès bien\r\n`
      const { deadLetters } = split(yield* Effect.promise(() => parseEmailWebhook(Buffer.from(text, "utf8"), context())))
      expect(deadLetters.map((d) => [d.payload, d.payloadEncoding])).toEqual([[text, undefined]])
      const d = deadLetters[0]!
      expect(deadLetterId(d)).toBe(createHash("sha256").update(`email\0bad_timestamp\0${text}`).digest("hex").slice(0, 32))
      yield* (yield* Pipeline).submit([], deadLetters)
      expect(yield* query("SELECT payload, payload_encoding FROM dead_letters")).toEqual([{ payload: text, payload_encoding: "utf8" }])
      expect((yield* listDeadLetters()).map((l) => l.payloadEncoding)).toEqual(["utf8"])
    })), 60_000)

  it("an NDJSON line that is not UTF-8 keeps its bytes, and a retry refuses it again rather than landing U+FFFD", () =>
    withPipeline(dir, Effect.gen(function* () {
      const line = Buffer.concat([
        Buffer.from('{"id":"p1","network":"reddit","author_handle":"hiker","text":"Tr', "latin1"), Buffer.from([0xe8]),
        Buffer.from('s bien","created_at":"2024-10-01T10:00:00Z"}', "latin1"),
      ])
      const file = join(dir, "posts.ndjson")
      writeFileSync(file, Buffer.concat([line, Buffer.from("\n")]))
      expect(yield* importFile("social", file, { tenant: "acme" })).toMatchObject({ accepted: 0, rejected: 1 })
      const rows = yield* query<StoredLetter>("SELECT payload, payload_encoding, rule FROM dead_letters")
      expect(rows.map((r) => [r.rule, r.payload_encoding])).toEqual([["invalid_utf8", "base64"]])
      expect(storedBytes(rows[0]!).equals(line)).toBe(true)
      const summary = yield* retryDeadLetters()
      expect(summary.results.map((r) => [r.outcome, r.rule])).toEqual([["still_rejected", "invalid_utf8"]])
      expect(yield* query("SELECT count() AS n FROM events")).toEqual([{ n: "0" }])
    })), 60_000)

  it("an accepted windows-1252 mail a stage dead-letters keeps its bytes marked base64, and a retry lands it", () =>
    withPipeline(dir, Effect.gen(function* () {
      const raw = latinMail(GOOD_DATE)
      const event = split(yield* Effect.promise(() => parseEmailWebhook(raw, context()))).events[0]!
      expect(event.raw?.meta).toEqual({ encoding: "base64" })
      // Identity refuses a message without a usable time (a stage's dead letter carries the event's raw text).
      yield* (yield* Pipeline).submit([{ ...event, timestamp: "not a time" }], [])
      const rows = yield* query<StoredLetter>("SELECT payload, payload_encoding, rule FROM dead_letters")
      expect(rows.map((r) => [r.rule, r.payload_encoding])).toEqual([["bad_timestamp", "base64"]])
      expect(storedBytes(rows[0]!).equals(raw)).toBe(true)
      const summary = yield* retryDeadLetters()
      expect(summary.results.map((r) => [r.outcome, r.messageIds])).toEqual([["landed", [event.messageId]]])
    })), 60_000)

  it("a calls CSV row that is not UTF-8 is refused invalid_utf8 and kept byte for byte, not landed with U+FFFD", () =>
    withPipeline(dir, Effect.gen(function* () {
      const header = "call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes"
      const row = (id: string, time: string, note: Buffer) =>
        Buffer.concat([Buffer.from(`${id},${time},60,inbound,+15551234567,a,q,resolved,`, "latin1"), note])
      const latin = (text: string) => Buffer.from(text, "latin1")
      const rows = [row("c1", "2024-09-16T09:28:50Z", latin("Tr\xe8s bien")), row("c2", "not a time", latin("caf\xe8")), row("c3", "2024-09-16T10:00:00Z", Buffer.from("Très bien", "utf8"))]
      const file = join(dir, "calls.csv")
      // Saved by Excel as "CSV UTF-8" (a byte order mark) but for two rows pasted from a windows-1252 export.
      writeFileSync(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${header}\r\n`), ...rows.flatMap((r) => [r, Buffer.from("\r\n")])]))
      expect(yield* importFile("calls", file, { tenant: "acme" })).toMatchObject({ accepted: 1, rejected: 2 })
      expect(yield* query("SELECT message_id, text FROM texts")).toEqual([{ message_id: "c3", text: "Très bien" }])
      const letters = yield* query<StoredLetter>("SELECT payload, payload_encoding, rule FROM dead_letters ORDER BY payload")
      expect(letters.map((r) => [r.rule, r.payload_encoding])).toEqual([["invalid_utf8", "base64"], ["invalid_utf8", "base64"]])
      expect(letters.map((r) => storedBytes(r).toString("latin1")).sort()).toEqual(rows.slice(0, 2).map((r) => `${header}\n${r.toString("latin1")}`))
    })), 60_000)

  it.each([
    ["sendgrid", '[{"email":"ann@x.example","event":"open","timestamp":1727776800,"sg_event_id":"e1","note":"Tr', 's bien"}]'],
    ["twitter", '[{"data":[{"id":"t1","text":"Tr', 's bien"}]}]'],
  ])("a whole-file JSON import (%s) that is not UTF-8 keeps the file's bytes, not an empty payload", (source, head, tail) =>
    withPipeline(dir, Effect.gen(function* () {
      const bytes = Buffer.concat([Buffer.from(head, "latin1"), Buffer.from([0xe8]), Buffer.from(tail, "latin1")])
      const file = join(dir, `${source}.json`)
      // A byte order mark is no part of the JSON: the bytes kept are the document's, after it.
      writeFileSync(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]))
      expect(yield* importFile(source, file, { tenant: "acme" })).toMatchObject({ accepted: 0, rejected: 1 })
      const rows = yield* query<StoredLetter & { readonly reason: string }>("SELECT payload, payload_encoding, rule, reason FROM dead_letters")
      expect(rows.map((r) => [r.rule, r.payload_encoding])).toEqual([["invalid_utf8", "base64"]])
      expect(rows[0]!.reason).toContain(`byte 0xe8 at offset ${head.length}`)
      expect(storedBytes(rows[0]!).equals(bytes)).toBe(true)
      const summary = yield* retryDeadLetters()
      expect(summary.results.map((r) => [r.outcome, r.rule])).toEqual([["still_rejected", "invalid_utf8"]])
    })), 60_000)

  it("a Segment line that is not UTF-8 keeps its bytes, its write key still taken out", () =>
    withPipeline(dir, Effect.gen(function* () {
      const line = (key: string) => Buffer.concat([
        Buffer.from(`{"type":"track","userId":"u1","event":"E","messageId":"s1","writeKey":"${key}","properties":{"note":"Tr`, "latin1"),
        Buffer.from([0xe8]), Buffer.from('s"}}', "latin1"),
      ])
      const file = join(dir, "segment.ndjson")
      writeFileSync(file, Buffer.concat([line("wk_secret"), Buffer.from("\n")]))
      expect(yield* importFile("segment", file, { tenant: "acme" })).toMatchObject({ accepted: 0, rejected: 1 })
      const rows = yield* query<StoredLetter>("SELECT payload, payload_encoding, rule FROM dead_letters")
      expect(rows.map((r) => [r.rule, r.payload_encoding])).toEqual([["invalid_utf8", "base64"]])
      expect(storedBytes(rows[0]!).equals(line("[redacted]"))).toBe(true)
    })), 60_000)
})
