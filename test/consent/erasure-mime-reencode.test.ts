// Another person's archived mail that names the subject only inside MIME encodings (a base64 part, a quoted-printable
// part whose soft line break splits the address, an RFC 2047 encoded-word in Cc) keeps everything but the subject: the
// parts and the header that name them are decoded, cut as plain text is, and encoded again as they were; every other
// byte of the mail stays. Before, such a mail was erased whole. A part whose charset cannot be cut (UTF-16) still is,
// and the erasure's counts say so.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { simpleParser } from "mailparser"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Keys } from "../../consent/keys.ts"
import { eraseSubject, verifyErased } from "../../consent/registry.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { exportArchived } from "../../ingest/archive.ts"
import { importFile } from "../../ingest/import.ts"
import { freshDir, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const JOSE = "jos\u00e9.m\u00fcller@example.com"
const DATE = "Mon, 2 Sep 2024 11:39:49 +0000"
const b64 = (b: Buffer) => b.toString("base64").replace(/.{76}/g, "$&\r\n")
const CC_NAME = "Jos\u00e9 M\u00fcller"

// Bob's mail, cut into what must stay byte for byte (fixed) and what is rewritten (between them).
const HEAD = `From: <bob@y.example>\r\nTo: <ann@y.example>\r\nCc: `
const CC = `=?utf-8?B?${Buffer.from(`${CC_NAME} <${JOSE}>`, "utf8").toString("base64")}?=`
const MIDDLE1 = `, <ann.boss@y.example>\r\nMessage-ID: <b1@y>\r\nSubject: order\r\nDate: ${DATE}\r\nMIME-Version: 1.0\r\n` +
  "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\nA preamble nobody reads.\r\n" +
  "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
const BASE64_TEXT = `Hello Ann, please call ${JOSE} about the order of the caf\u00e9 chairs; Bob writes this line long enough to wrap.\r\n`
const BASE64_BODY = `${b64(Buffer.from(BASE64_TEXT, "utf8"))}\r\n`
const MIDDLE2 = "--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
const QP_BODY = "Forwarding this: please write to jos=E9.m=FCller@exa=\r\nmple.com today, Bob.\r\n"
const TAIL = "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
  "Bob's own words, kept: caf\u00e9 =?not-a-word?= 100%.\r\n--b1--\r\nAn epilogue.\r\n"
const bobsMail = HEAD + CC + MIDDLE1 + BASE64_BODY + MIDDLE2 + QP_BODY + TAIL

/** Erin's mail naming José in a UTF-16 part: no cut in its bytes is possible, so it is erased whole. */
const erinsMail = `From: <erin@y.example>\r\nMessage-ID: <e1@y>\r\nSubject: order\r\nDate: ${DATE}\r\nMIME-Version: 1.0\r\n` +
  `Content-Type: text/plain; charset=utf-16le\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64(Buffer.from(`call ${JOSE}`, "utf16le"))}\r\n`

/** What a reader of the mail sees: its decoded headers and parts. */
const decoded = async (raw: string) => {
  const mail = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true })
  return `${JSON.stringify([...mail.headers])}\n${mail.text ?? ""}`
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

describe("erasure inside another person's MIME-encoded mail", () => {
  it("rewrites only the parts and header naming the subject, encoded as they were, and keeps the mail", () =>
    withPipeline(dir, Effect.gen(function* () {
      const files = { "jose.eml": `From: <${JOSE}>\r\nMessage-ID: <j1@x>\r\nSubject: hi\r\nDate: ${DATE}\r\n\r\nhello\r\n`, "bob.eml": bobsMail, "erin.eml": erinsMail }
      for (const [name, text] of Object.entries(files)) {
        writeFileSync(join(dir, name), text)
        yield* importFile("email", join(dir, name), { tenant: "acme" })
      }
      expect(bobsMail.includes(JOSE)).toBe(false)
      expect(yield* Effect.promise(() => decoded(bobsMail))).toContain(JOSE)

      const subject = yield* resolveSubject("acme", `email:${JOSE}`)
      const done = yield* eraseSubject(subject)
      expect(done.find((d) => d.where === "verification")?.count).toBe(0)
      expect(done.filter((d) => d.where === "archive" && /MIME/.test(d.what)).map((d) => [d.what, d.count])).toEqual([
        ["others' records redacted inside their MIME encoding", 1],
        ["others' records erased whole (naming the subject inside a MIME encoding that could not be encoded again)", 1],
      ])
      expect(yield* verifyErased(subject)).toEqual([])

      const archived = yield* exportArchived("acme", () => true)
      expect(archived.map((r) => r.messageId)).toEqual(["b1@y"])
      const body = archived[0]!.body
      expect(yield* Effect.promise(() => decoded(body))).not.toContain("m\u00fcller@")
      // Every byte outside the Cc encoded-word and the two parts' bodies is as Bob sent it.
      const shape = new RegExp(`^${escape(HEAD)}(.*?)${escape(MIDDLE1)}([\\s\\S]*?)${escape(MIDDLE2)}([\\s\\S]*?)${escape(TAIL)}$`)
      const [, cc, base64Body, qpBody] = shape.exec(body) ?? []
      expect(cc).toMatch(/^=\?utf-8\?B\?[A-Za-z0-9+/=]+\?=$/)
      expect(Buffer.from(cc!.slice("=?utf-8?B?".length, -2), "base64").toString("utf8")).toBe(`${CC_NAME} <[erased]>`)
      // The base64 part is base64 again, in lines of 76, and says what Bob wrote with the address cut.
      expect(base64Body!.split("\r\n").slice(0, -2).every((l) => l.length === 76)).toBe(true)
      expect(Buffer.from(base64Body!, "base64").toString("utf8")).toBe(BASE64_TEXT.replace(JOSE, "[erased]"))
      // The quoted-printable part is quoted-printable again, in its own charset.
      expect(qpBody).toBe("Forwarding this: please write to [erased] today, Bob.\r\n")
    }).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(5))))), 240_000)
})
