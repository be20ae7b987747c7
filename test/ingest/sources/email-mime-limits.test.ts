// A mail past the MIME reader's limits is refused in words a sender understands. Found probing cdp ingest: an .eml of
// 10,000 parts was refused as "cannot parse the message (Max allowed child nodes exceeded)", and one with a 1 MB
// header section as "(Max header size for a MIME node exceeded)".
import { describe, expect, it } from "vitest"
import { parseEmailWebhook } from "../../../ingest/sources/email.ts"
import { context, split } from "./helpers.ts"

const head = (id: string, extra: string) =>
  `From: ann@x.example\r\nTo: s@shop.example\r\nMessage-ID: <${id}@x.example>\r\nDate: Mon, 2 Sep 2024 11:39:49 +0000\r\n${extra}`

describe("e-mail: past the MIME reader's limits", () => {
  it("refuses a mail of more than 1,000 parts, saying so", async () => {
    const parts = Array.from({ length: 1_001 }, (_, i) => `--B\r\nContent-Type: text/plain\r\n\r\npart ${i}\r\n`).join("")
    const mail = head("parts", 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n') + parts + "--B--\r\n"
    const { deadLetters } = split(await parseEmailWebhook(Buffer.from(mail), context()))
    expect(deadLetters.map((d) => d.rejection.rule)).toEqual(["unparseable"])
    expect(deadLetters[0]!.rejection.message).toBe("body: the message has more than 1,000 MIME parts, more than are read; send fewer (as attachments of one archive, say)")
  })

  it("refuses a mail whose header section is over 1 MB, saying so", async () => {
    const mail = head("head", `${"X-Note: padding\r\n".repeat(70_000)}\r\nhello\r\n`)
    const { deadLetters } = split(await parseEmailWebhook(Buffer.from(mail), context()))
    expect(deadLetters.map((d) => d.rejection.message)).toEqual([
      "body: the header section of the message or of one of its parts is over 1 MB, more than is read",
    ])
  })
})
