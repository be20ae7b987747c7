// A mail's text is bounded at 1,000,000 characters: a body far past what any mail is (20 MB in a 64 MB .eml) landed as
// one event. Past the bound the mail is refused too_long naming the body it came from, kept whole as a dead letter.
import { describe, expect, it } from "vitest"
import { parseEmailWebhook, readEmailPath } from "../../../ingest/sources/email.ts"
import { collect, context, split, tempFile } from "./helpers.ts"

const BOUND = 1_000_000
const head = (id: string, type = "text/plain") =>
  `From: Ann <ann@x.example>\r\nTo: support@shop.example\r\nMessage-ID: <${id}@x.example>\r\n` +
  `Date: Mon, 2 Sep 2024 11:39:49 +0000\r\nSubject: order\r\nMIME-Version: 1.0\r\nContent-Type: ${type}; charset=utf-8\r\n\r\n`
/** `count` lines of 99 characters and a line break: a quoted thread's worth of text, 100 characters a line. */
const lines = (count: number) => `${"y".repeat(99)}\r\n`.repeat(count)
const SEP = "From ann@x.example Mon Sep  2 11:39:49 2024\n"

describe("e-mail: a mail's text is bounded", () => {
  it("a .eml whose text is 20 MB is a dead letter naming body/text and the bound, kept whole", async () => {
    const raw = `${head("huge")}${lines(200_000)}`
    const { events, deadLetters } = await collect(readEmailPath(tempFile("huge.eml", raw), context()))
    expect(events.map((e) => e.messageId)).toEqual([])
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field, d.rejection.message.split(": ")[1]])).toEqual([
      ["huge@x.example", "too_long", "/body/text", `body/text is longer than ${BOUND} characters`],
    ])
    // Nothing accepted is lost: the dead letter keeps the whole message.
    expect(deadLetters[0]!.payload).toBe(raw)
  }, 60_000)

  it("in a posted mbox, that message is refused and the messages around it land", async () => {
    const body = `${SEP}${head("one")}hello\r\n\n${SEP}${head("two")}${lines(10_001)}\n${SEP}${head("three")}bye\r\n`
    const { events, deadLetters } = split(await parseEmailWebhook(body, context()))
    expect(events.map((e) => e.messageId)).toEqual(["one@x.example", "three@x.example"])
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field])).toEqual([["two@x.example", "too_long", "/body/text"]])
  }, 60_000)

  it("an HTML-only mail whose text is past the bound is a dead letter naming body/html", async () => {
    const raw = `${head("html", "text/html")}<pre>\r\n${lines(12_000)}</pre>\r\n`
    const { events, deadLetters } = split(await parseEmailWebhook(raw, context()))
    expect(events.map((e) => e.messageId)).toEqual([])
    expect(deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field, d.rejection.message])).toEqual([
      ["html@x.example", "too_long", "/body/html", `body: the text of body/html is longer than ${BOUND} characters`],
    ])
  }, 60_000)

  it("a long quoted thread, text or HTML, of 1,000,000 characters lands whole", async () => {
    const text = split(await parseEmailWebhook(`${head("text")}${lines(9_999)}${"y".repeat(99)}\r\n`, context()))
    expect(text.deadLetters).toEqual([])
    expect(text.events.map((e) => e.text.length)).toEqual([BOUND])
    const html = split(await parseEmailWebhook(`${head("html", "text/html")}<pre>${lines(9_999)}</pre>\r\n`, context()))
    expect(html.deadLetters).toEqual([])
    expect(html.events.map((e) => e.text.length > 900_000 && e.text.length <= BOUND)).toEqual([true])
  }, 60_000)
})

describe("e-mail: a Message-ID is bounded", () => {
  it("a Message-ID past 998 characters (RFC 5322's longest line) is a dead letter naming it; one of 998 lands as the item's id", async () => {
    const long = `${"a".repeat(1_000_000)}@x.example`
    const refused = split(await parseEmailWebhook(head(long.replace("@x.example", "")), context()))
    expect(refused.events.map((e) => e.messageId.length)).toEqual([])
    expect(refused.deadLetters.map((d) => [d.messageId, d.rejection.rule, d.rejection.field, d.rejection.message])).toEqual([
      ["", "too_long", "/headers/message-id", "body: the Message-ID: header is longer than 998 characters"],
    ])
    const fits = split(await parseEmailWebhook(head("b".repeat(998 - "@x.example".length)), context()))
    expect(fits.events.map((e) => e.messageId.length)).toEqual([998])
  })
})
