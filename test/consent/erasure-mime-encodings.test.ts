// An erasure finds the subject's address where another person's mail names it only inside a MIME transfer encoding:
// a base64 text/plain or text/html part, a quoted-printable part whose soft line break splits the address (its letters
// past ASCII written =E9, =FC), and an RFC 2047 encoded-word in Cc. Before, the archive and dead letters were searched
// in the raw text only: such mails kept the address after an erasure that reported success, and verification did not
// see them. The test reads what is left as a mail reader does (mailparser: decoded headers and parts).
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
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const JOSE = "jos\u00e9.m\u00fcller@example.com"
const DATE = "Mon, 2 Sep 2024 11:39:49 +0000"
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64").replace(/.{76}/g, "$&\r\n")
const head = (from: string, id: string, date: string, more = "") =>
  `From: <${from}>\r\nMessage-ID: <${id}>\r\nSubject: order\r\nDate: ${date}\r\nMIME-Version: 1.0\r\n${more}`

/** Bob's reply: text/plain and text/html, both base64, asking to call José. */
const base64Mail = (from: string, id: string, date: string, who = JOSE) => head(from, id, date,
  "Content-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n" +
    "--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
    `${b64(`Hello, please call ${who} about the order.`)}\r\n` +
    "--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
    `${b64(`<p>Hello, please call <a href="mailto:${who}">${who}</a> about the order.</p>`)}\r\n--b1--\r\n`)

/** Carol's forward in ISO-8859-1 quoted-printable, a soft line break inside the address. */
const qpMail = head("carol@y.example", "c1@y", DATE,
  "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
    "Forwarding this: please write to jos=E9.m=FCller@exa=\r\nmple.com today.\r\n")

/** Dave's mail copying José in an encoded-word. */
const ccMail = (who = JOSE) => head("dave@y.example", "d1@y", DATE,
  `Cc: =?utf-8?B?${Buffer.from(`Jos\u00e9 M\u00fcller <${who}>`, "utf8").toString("base64")}?=\r\n` +
    "Content-Type: text/plain; charset=utf-8\r\n\r\nSee the copy.\r\n")

/** Frank's mail naming José in plain text (To) and in a base64 part: cutting the plain text is not enough. */
const bothMail = (who = JOSE) => head("frank@y.example", "f1@y", DATE,
  `To: <${who}>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64(`Dear ${who},`)}\r\n`)

/** Gina's mail naming José in plain text under a transfer encoding that encodes nothing (7bit): cut, as before. */
const plainMail = (said: string) => head("gina@y.example", "g1@y", DATE,
  `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nplease call ${said} today\r\n`)

/** Hal's forward of a whole message (message/rfc822) whose own base64 part names José. */
const forwardMail = (who = JOSE) => head("hal@y.example", "h1@y", DATE,
  "Content-Type: multipart/mixed; boundary=\"m1\"\r\n\r\n--m1\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n" +
    "--m1\r\nContent-Type: message/rfc822\r\n\r\n" +
    head("someone@z.example", "z1@z", DATE, `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64(`call ${who}`)}\r\n`) +
    "\r\n--m1--\r\n")

/** Bob's mail naming nobody, base64 too: kept as it was. */
const bobsOther = head("bob@y.example", "b9@y", DATE,
  `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64("Nothing to see here, caf\u00e9.")}\r\n`)

/** What a reader of the mail sees: its decoded headers and parts, lowered. */
const decoded = async (raw: Buffer | string) => {
  const mail = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true })
  return `${JSON.stringify([...mail.headers])}\n${mail.text ?? ""}\n${typeof mail.html === "string" ? mail.html : ""}`.toLowerCase()
}

describe("erasure of an identifier inside MIME transfer encodings", () => {
  it("finds the subject in others' base64 and quoted-printable parts and encoded-words, in the archive and dead letters", () =>
    withPipeline(dir, Effect.gen(function* () {
      const files: Record<string, string> = {
        "jose.eml": `From: <${JOSE}>\r\nMessage-ID: <j1@x>\r\nSubject: hi\r\nDate: ${DATE}\r\n\r\nhello\r\n`,
        "bob-b64.eml": base64Mail("bob@y.example", "b1@y", DATE),
        "carol-qp.eml": qpMail,
        "dave-cc.eml": ccMail(),
        "bob-other.eml": bobsOther,
        "frank-both.eml": bothMail(),
        "gina-plain.eml": plainMail(JOSE),
        "hal-forward.eml": forwardMail(),
        // Refused (their Date): Erin's names José only in base64; Bob's names nobody.
        "erin-refused.eml": base64Mail("erin@y.example", "e1@y", "someday"),
        "bob-refused.eml": head("bob@y.example", "b0@y", "someday", "Content-Type: text/plain\r\n\r\nnobody\r\n"),
      }
      for (const [name, text] of Object.entries(files)) {
        writeFileSync(join(dir, name), text)
        yield* importFile("email", join(dir, name), { tenant: "acme" })
      }
      // The raw text does not hold the address anywhere but José's own mail.
      const encoded = ["bob-b64.eml", "carol-qp.eml", "dave-cc.eml", "erin-refused.eml", "hal-forward.eml"]
      for (const name of encoded) expect(files[name]!.includes(JOSE)).toBe(false)
      for (const name of encoded.slice(0, 4)) expect(yield* Effect.promise(() => decoded(files[name]!))).toContain(JOSE)
      expect(Buffer.from(files["hal-forward.eml"]!.split("base64\r\n\r\n")[1]!, "base64").toString("utf8")).toContain(JOSE)
      expect((yield* query<{ n: string }>("SELECT count() AS n FROM dead_letters"))[0]!.n).toBe("2")

      const subject = yield* resolveSubject("acme", `email:${JOSE}`)
      // Verification sees them: José's own mail, the five that name him inside an encoding, Gina's; Erin's dead letter.
      const before = yield* verifyErased(subject)
      expect(before.filter((l) => /^(archive|dead_letters) /.test(l))).toEqual(["dead_letters (1 rows)", "archive (7 records)"])

      const done = yield* eraseSubject(subject)
      expect(done.find((d) => d.where === "verification")?.count).toBe(0)
      expect(done.filter((d) => d.where === "archive" && /MIME/.test(d.what)).map((d) => [d.what, d.count])).toEqual([
        ["others' records redacted inside their MIME encoding", 5],
      ])

      const archived = yield* exportArchived("acme", () => true)
      for (const r of archived) expect(yield* Effect.promise(() => decoded(r.body))).not.toContain(JOSE)
      // Bob's, Carol's, Dave's, Frank's and Hal's mails naming him are kept, his address cut inside their encodings (and
      // Frank's To in plain text), encoded again as they were; Bob's other mail kept as it was, Gina's with his address cut.
      expect(archived.map((r) => [r.messageId, r.body]).sort()).toEqual([
        ["b1@y", base64Mail("bob@y.example", "b1@y", DATE, "[erased]")],
        ["b9@y", bobsOther],
        ["c1@y", qpMail.replace("jos=E9.m=FCller@exa=\r\nmple.com", "[erased]")],
        ["d1@y", ccMail("[erased]")],
        ["f1@y", bothMail("[erased]")],
        ["g1@y", plainMail("[erased]")],
        ["h1@y", forwardMail("[erased]")],
      ])

      const letters = yield* query<{ payload: string; payload_encoding: string }>("SELECT payload, payload_encoding FROM dead_letters")
      const raws = letters.map((l) => l.payload_encoding === "base64" ? Buffer.from(l.payload, "base64").toString("utf8") : l.payload)
      for (const raw of raws) expect(yield* Effect.promise(() => decoded(raw))).not.toContain(JOSE)
      expect(raws).toEqual([files["bob-refused.eml"]])
    }).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(5))))), 240_000)
})
