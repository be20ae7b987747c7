// Mail text whose part is declared UTF-8 (or US-ASCII, or nothing) but holds Latin-1 / Windows-1252 bytes, as old
// clients and scripts send it, lands as the sender wrote it, not with U+FFFD in place of each accented letter, and the
// event says it was read as Windows-1252. A multipart mail whose boundary never appears lands with its body as text.
import { describe, expect, it } from "vitest"
import { parseEmailWebhook } from "../../../ingest/sources/email.ts"
import { context, split } from "./helpers.ts"

const HEAD = "From: Ann <ann@example.com>\r\nTo: help@example.com\r\nMessage-ID: <m1@example.com>\r\nDate: Mon, 15 Jul 2024 09:30:00 +0000\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
const latin1 = (text: string) => Buffer.from(text, "latin1")
const mail = (...parts: Array<string | Buffer>) => Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : p)))

const read = async (raw: Buffer) => {
  const { events, deadLetters } = split(await parseEmailWebhook(raw, context()))
  expect(deadLetters).toEqual([])
  expect(events).toHaveLength(1)
  return events[0]!
}

describe("mail text not valid in its declared charset", () => {
  it("a UTF-8 part holding Windows-1252 bytes (8bit or quoted-printable) is read as Windows-1252, and says so", async () => {
    const eightBit = await read(mail(HEAD, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n", latin1("Caf\xe9 cr\xe8me \x93late\x94, \x80 5 refund\r\n")))
    expect(eightBit.text).toBe("Café crème “late”, € 5 refund\n")
    expect(eightBit.properties["text_decoded_as"]).toBe("windows-1252")
    const qp = await read(mail(HEAD, "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nMy order n=B0 12 is late, the caf=E9 is cold=\r\n.\r\n"))
    expect(qp.text).toBe("My order n° 12 is late, the café is cold.\n")
    const ascii = await read(mail(HEAD, "Content-Type: text/plain; charset=us-ascii\r\n\r\n", latin1("Gr\xfc\xdfe\r\n")))
    expect(ascii.text).toBe("Grüße\n")
  })

  it("the text part of a multipart mail is read so too, the HTML beside it untouched", async () => {
    const raw = mail(HEAD, 'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n',
      latin1("Tr\xe8s d\xe9\xe7u.\r\n"), "--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Très déçu.</p>\r\n--b1--\r\n")
    const event = await read(raw)
    expect(event.text).toBe("Très déçu.")
    expect(event.properties["text_decoded_as"]).toBe("windows-1252")
  })

  it("an HTML-only mail so written keeps its text as mailparser read it, marked text_charset_invalid", async () => {
    const event = await read(mail(HEAD, "Content-Type: text/html; charset=utf-8\r\n\r\n", latin1("<p>Tr\xe8s d\xe9\xe7u.</p>\r\n")))
    expect(event.text).toContain("Tr\uFFFDs")
    expect(event.properties["text_charset_invalid"]).toBe(true)
    expect(event.properties["text_decoded_as"]).toBeUndefined()
  })

  it("a format=flowed part so written is unfolded and read as Windows-1252 too", async () => {
    const event = await read(mail(HEAD, "Content-Type: text/plain; charset=utf-8; format=flowed\r\n\r\n", latin1("Tr\xe8s \r\nd\xe9\xe7u.\r\n")))
    // As the same mail in UTF-8 reads: the soft break unfolded, no line end after the last line.
    expect(event.text).toBe("Très déçu.")
    expect(event.properties["text_decoded_as"]).toBe("windows-1252")
    expect(event.properties["text_charset_invalid"]).toBeUndefined()
  })

  it("valid UTF-8 mail is unchanged, a U+FFFD the sender wrote included", async () => {
    const raw = mail(HEAD, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nCafé “late” \uFFFD kept, 日本\r\n")
    const event = await read(raw)
    expect(event.text).toBe("Café “late” \uFFFD kept, 日本\n")
    expect(event.properties["text_decoded_as"]).toBeUndefined()
  })

  it("a multipart mail whose boundary never appears lands with its body as text, and says so", async () => {
    const raw = mail(HEAD, 'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\nHello, my order is late.\r\nPlease help.\r\n')
    const event = await read(raw)
    expect(event.text).toBe("Hello, my order is late.\nPlease help.\n")
    expect(event.properties["mime_boundary_missing"]).toBe(true)
  })
})
