// An identifier with letters past ASCII (josé.müller@exämple.com) is found by an erasure in bytes kept as base64 (a
// dead letter's payload, an archived mail's body: bytes that are not UTF-8) in the charsets such bytes come in: its
// Windows-1252 / Latin-1 bytes, the charset a mail declares (here ISO-8859-2, where "ł" is one byte), and its UTF-8
// bytes among others that are not. Before, only an identifier written in ASCII was found there.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Keys } from "../../consent/keys.ts"
import { eraseSubject } from "../../consent/registry.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { exportArchived } from "../../ingest/archive.ts"
import { importFile } from "../../ingest/import.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const JOSE = "jos\u00e9.m\u00fcller@ex\u00e4mple.com"
const LUKASZ = "\u0142ukasz@ex\u00e4mple.com"
/** LUKASZ in ISO-8859-2: "ł" is 0xB3, "ä" 0xE4 (written as bytes here, the test's own reading of the charset). */
const LUKASZ_8859_2 = Buffer.from([0xb3, ...Buffer.from("ukasz@ex", "latin1"), 0xe4, ...Buffer.from("mple.com", "latin1")])

/** A mail of `from`, in `charset`, whose body holds `said` (bytes) after "Tr\xe8s bien, " (0xE8: not UTF-8). */
const mail = (from: string, id: string, date: string, charset: string, said: Buffer): Buffer => Buffer.concat([
  Buffer.from(`From: <${from}>\r\nMessage-ID: <${id}>\r\nSubject: order\r\nDate: ${date}\r\nContent-Type: text/plain; charset=${charset}\r\n\r\nTr`, "latin1"),
  Buffer.from([0xe8]), Buffer.from("s bien, ask ", "latin1"), said, Buffer.from(" about it\r\n", "latin1"),
])
const DATE = "Mon, 2 Sep 2024 11:39:49 +0000"
const latin1 = (s: string) => Buffer.from(s, "latin1")

describe("erasure of an identifier past ASCII in bytes kept as base64", () => {
  it("removes the subject's dead letters and cuts them out of others' archived mail, in Latin-1, the declared charset and UTF-8", () =>
    withPipeline(dir, Effect.gen(function* () {
      const files: Record<string, Buffer> = {
        // Landed, in UTF-8: the two people are known.
        "jose.eml": Buffer.from(`From: <${JOSE}>\r\nMessage-ID: <j1@x>\r\nSubject: hi\r\nDate: ${DATE}\r\n\r\nhello\r\n`),
        "lukasz.eml": Buffer.from(`From: <${LUKASZ}>\r\nMessage-ID: <l1@x>\r\nSubject: hi\r\nDate: ${DATE}\r\n\r\nhello\r\n`),
        // Refused (their Date), kept as base64: naming José in windows-1252 and in UTF-8, Łukasz in ISO-8859-2, and Bob's.
        "jose-refused.eml": mail("someone@y.example", "j2@x", "someday", "windows-1252", latin1(`me, ${JOSE},`)),
        "jose-utf8-refused.eml": mail("someone@y.example", "j3@x", "someday", "windows-1252", Buffer.from(`me, ${JOSE},`, "utf8")),
        "lukasz-refused.eml": mail("someone@y.example", "l2@x", "someday", "iso-8859-2", Buffer.concat([latin1("me, "), LUKASZ_8859_2, latin1(",")])),
        "bob-refused.eml": mail("bob@y.example", "b0@y", "someday", "windows-1252", latin1("nobody")),
        // Accepted and archived as base64: Bob's mails quoting them, in windows-1252, ISO-8859-2 and UTF-8.
        "bob-1252.eml": mail("bob@y.example", "b1@y", DATE, "windows-1252", latin1(JOSE)),
        "bob-8859-2.eml": mail("bob@y.example", "b2@y", DATE, "iso-8859-2", LUKASZ_8859_2),
        "bob-utf8.eml": mail("bob@y.example", "b3@y", DATE, "windows-1252", Buffer.from(JOSE, "utf8")),
      }
      for (const [name, bytes] of Object.entries(files)) {
        writeFileSync(join(dir, name), bytes)
        yield* importFile("email", join(dir, name), { tenant: "acme" })
      }
      expect(yield* query("SELECT payload_encoding, count() AS n FROM dead_letters GROUP BY payload_encoding")).toEqual([{ payload_encoding: "base64", n: "4" }])

      for (const who of [JOSE, LUKASZ]) {
        const done = yield* eraseSubject(yield* resolveSubject("acme", `email:${who}`))
        expect(done.find((d) => d.where === "verification")?.count).toBe(0)
      }

      const letters = yield* query<{ payload: string }>("SELECT payload FROM dead_letters")
      expect(letters.map((r) => Buffer.from(r.payload, "base64").toString("latin1"))).toEqual([files["bob-refused.eml"]!.toString("latin1")])
      const archived = [...yield* exportArchived("acme", () => true)].sort((a, b) => a.messageId.localeCompare(b.messageId))
      expect(archived.map((r) => r.messageId)).toEqual(["b1@y", "b2@y", "b3@y"])
      const erased = latin1("[erased]")
      expect(archived.map((r) => Buffer.from(r.body, "base64").toString("latin1"))).toEqual([
        mail("bob@y.example", "b1@y", DATE, "windows-1252", erased).toString("latin1"),
        mail("bob@y.example", "b2@y", DATE, "iso-8859-2", erased).toString("latin1"),
        mail("bob@y.example", "b3@y", DATE, "windows-1252", erased).toString("latin1"),
      ])
    }).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(5))))), 240_000)
})
