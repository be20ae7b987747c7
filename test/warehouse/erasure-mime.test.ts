// redactMimeMail (warehouse/erasure-mime.ts) cuts an identifier where only a MIME decoding shows it and leaves every
// other byte: each case checks the mail decoded no longer names it and the bytes around what was rewritten are the same.
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { decodedMailText, mentionsNeedle } from "../../warehouse/erasure.ts"
import { redactMimeMail } from "../../warehouse/erasure-mime.ts"

const JOSE = "jos\u00e9.m\u00fcller@example.com"
/** Whether the mail read decoded names José, as the erasure and its verification search it (a whole token). */
const names = async (raw: Buffer) => mentionsNeedle([JOSE])(await Effect.runPromise(decodedMailText(raw)))
const b64 = (b: Buffer) => b.toString("base64")

describe("redactMimeMail", () => {
  it("cuts an address split across a folded run of UTF-8 B words, in words of at most 75 characters", async () => {
    const full = Buffer.from(`Jos\u00e9 M\u00fcller-Schmidt von und zu Irgendwo <${JOSE}>`, "utf8")
    const words = [full.subarray(0, 30), full.subarray(30, 50), full.subarray(50)].map((b) => `=?UTF-8?B?${b64(b)}?=`)
    const raw = Buffer.from(`From: <a@y.example>\r\nTo: ${words.join("\r\n ")}\r\nSubject: x\r\n\r\nhi\r\n`)
    expect(await names(raw)).toBe(true)
    const out = (await redactMimeMail(raw, [JOSE]))!.toString("latin1")
    const [, to] = /^From: <a@y\.example>\r\nTo: ([\s\S]*)\r\nSubject: x\r\n\r\nhi\r\n$/.exec(out) ?? []
    const again = to!.split("\r\n ")
    expect(again.every((w) => /^=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=$/.test(w) && w.length <= 75)).toBe(true)
    expect(Buffer.concat(again.map((w) => Buffer.from(w.slice(10, -2), "base64"))).toString("utf8"))
      .toBe(`Jos\u00e9 M\u00fcller-Schmidt von und zu Irgendwo <[erased]>`)
  })

  it("writes a Q word again in its own charset and letter case", async () => {
    const raw = Buffer.from("From: <a@y.example>\r\nSubject: =?iso-8859-1?q?Caf=E9:_write_to_jos=E9.m=FCller@example.com_today?=\r\n\r\nhi\r\n")
    expect(await names(raw)).toBe(true)
    expect((await redactMimeMail(raw, [JOSE]))!.toString("latin1"))
      .toBe("From: <a@y.example>\r\nSubject: =?iso-8859-1?q?Caf=E9=3A_write_to_=5Berased=5D_today?=\r\n\r\nhi\r\n")
  })

  it("finds and cuts an address inside a Q word holding a whole 'Name <address>' (mailparser reads that Cc as empty)", async () => {
    const raw = Buffer.from("From: <a@y.example>\r\nCc: =?iso-8859-1?q?Jos=E9_=3Cjos=E9.m=FCller@example.com=3E?=\r\n\r\nhi\r\n")
    expect(await names(raw)).toBe(true)
    const out = (await redactMimeMail(raw, [JOSE]))!
    expect(out.toString("latin1")).toBe("From: <a@y.example>\r\nCc: =?iso-8859-1?q?Jos=E9_=3C=5Berased=5D=3E?=\r\n\r\nhi\r\n")
    expect(await names(out)).toBe(false)
  })

  it("finds and cuts an address in an attachment's encoded filename, the attachment's bytes kept", async () => {
    const mail = (filename: string) => Buffer.from("From: <a@y.example>\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n" +
      "Content-Type: text/plain\r\n\r\nhi\r\n--x\r\nContent-Type: application/pdf\r\n" +
      `Content-Disposition: attachment; filename="=?utf-8?B?${b64(Buffer.from(filename, "utf8"))}?="\r\n` +
      "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--x--\r\n")
    const raw = mail(`notes for ${JOSE} (draft).pdf`)
    expect(await names(raw)).toBe(true)
    const out = (await redactMimeMail(raw, [JOSE]))!
    expect(out.toString("latin1")).toBe(mail("notes for [erased] (draft).pdf").toString("latin1"))
    expect(await names(out)).toBe(false)
  })

  it("keeps a mail's LF line ends and other parts' bytes (not UTF-8) as they were", async () => {
    const part = (cte: string, body: string | Buffer) =>
      Buffer.concat([Buffer.from(`--x\nContent-Type: text/plain; charset=windows-1252\nContent-Transfer-Encoding: ${cte}\n\n`), Buffer.from(body), Buffer.from("\n")])
    const mail = (said: string) => Buffer.concat([
      Buffer.from("From: <a@y.example>\nContent-Type: multipart/mixed; boundary=x\n\n"),
      part("8bit", Buffer.from("Caf\u00e9, kept", "latin1")),
      part("BASE64", b64(Buffer.from(`write ${said} today`, "latin1"))),
      Buffer.from("--x--\n"),
    ])
    expect(await names(mail(JOSE))).toBe(true)
    const out = await redactMimeMail(mail(JOSE), [JOSE])
    expect(out!.equals(mail("[erased]"))).toBe(true)
  })

  it("cuts inside a forwarded message attached in base64, encoded again in lines as long as they were", async () => {
    const inner = (said: string) => "From: <z@z.example>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
      `call ${said}\r\n`
    const mail = (said: string) => Buffer.from("From: <a@y.example>\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n" +
      "Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      `${b64(Buffer.from(inner(said))).replace(/.{76}/g, "$&\r\n")}\r\n--x--\r\n`)
    const raw = mail("jos=C3=A9.m=C3=BCller@example.com")
    expect(await names(raw)).toBe(true)
    expect((await redactMimeMail(raw, [JOSE]))!.toString("latin1")).toBe(mail("[erased]").toString("latin1"))
  })

  it("gives up (the caller erases the mail whole) on a run of words in a multi-byte charset other than UTF-8", async () => {
    const raw = Buffer.from(`From: <a@y.example>\r\nCc: =?shift_jis?B?${b64(Buffer.from("<jose.m"))}?= =?shift_jis?B?${b64(Buffer.from("uller@example.com>"))}?=\r\n\r\nhi\r\n`)
    expect(await redactMimeMail(raw, ["jose.muller@example.com"])).toBeUndefined()
    // A mail that does not name them comes back as it was.
    expect((await redactMimeMail(raw, ["ann@y.example"]))!.equals(raw)).toBe(true)
  })
})
