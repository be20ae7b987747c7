// An erasure finds and cuts the subject's identifiers in another person's archived mail kept as base64 (its bytes are
// not UTF-8: ingest/utf8.ts keptAsText) as it does in one kept as text; the rest of that mail's bytes stay as they were.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Keys } from "../../consent/keys.ts"
import { eraseSubject, exportSubject } from "../../consent/registry.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { exportArchived } from "../../ingest/archive.ts"
import { importFile } from "../../ingest/import.ts"
import { freshDir, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** Bob's mail in windows-1252 ("Tr\xe8s"), quoting Ann's address. */
const bobsMail = (quoted: string): Buffer => Buffer.concat([
  Buffer.from("From: <bob@y.example>\r\nMessage-ID: <b1@y.example>\r\nSubject: order\r\nDate: Mon, 2 Sep 2024 11:39:49 +0000\r\n", "latin1"),
  Buffer.from(`Content-Type: text/plain; charset=windows-1252\r\n\r\nTr`, "latin1"), Buffer.from([0xe8]),
  Buffer.from(`s bien, ask ${quoted} about it\r\n`, "latin1"),
])

describe("erasure and archived mail kept as base64", () => {
  it("cuts the subject's address out of another's archived windows-1252 mail, its other bytes unchanged", () =>
    withPipeline(dir, Effect.gen(function* () {
      const bob = join(dir, "bob.eml")
      const ann = join(dir, "ann.eml")
      writeFileSync(bob, bobsMail("ann@x.example"))
      writeFileSync(ann, "From: <ann@x.example>\r\nMessage-ID: <a1@x.example>\r\nSubject: hi\r\nDate: Mon, 2 Sep 2024 11:39:49 +0000\r\n\r\nhello\r\n")
      for (const file of [bob, ann]) expect(yield* importFile("email", file, { tenant: "acme" })).toMatchObject({ accepted: 1, rejected: 0 })
      yield* eraseSubject(yield* resolveSubject("acme", "email:ann@x.example"))
      const archived = yield* exportArchived("acme", () => true)
      expect(archived.map((r) => [r.messageId, r.meta])).toEqual([["b1@y.example", { encoding: "base64" }]])
      expect(Buffer.from(archived[0]!.body, "base64").toString("latin1")).toBe(bobsMail("[erased]").toString("latin1"))
    }).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(5))))), 120_000)

  it("an access export says an archived mail's body is base64 (its bytes not UTF-8), and that a UTF-8 one is text", () =>
    withPipeline(dir, Effect.gen(function* () {
      const latin = join(dir, "bob.eml")
      const plain = join(dir, "bob2.eml")
      const plainText = "From: <bob@y.example>\r\nMessage-ID: <b2@y.example>\r\nSubject: caf\u00e9\r\nDate: Mon, 2 Sep 2024 12:00:00 +0000\r\n\r\nTr\u00e8s bien\r\n"
      writeFileSync(latin, bobsMail("nobody"))
      writeFileSync(plain, plainText)
      for (const file of [latin, plain]) expect(yield* importFile("email", file, { tenant: "acme" })).toMatchObject({ accepted: 1, rejected: 0 })
      const stores = yield* exportSubject(yield* resolveSubject("acme", "email:bob@y.example"))
      const rows = [...(stores.find((s) => s.store === "archive")?.rows ?? [])].sort((a, b) => String(a["messageId"]).localeCompare(String(b["messageId"])))
      expect(rows.map((r) => [r["messageId"], r["bodyEncoding"]])).toEqual([["b1@y.example", "base64"], ["b2@y.example", "utf8"]])
      expect(Buffer.from(String(rows[0]!["body"]), "base64").equals(bobsMail("nobody"))).toBe(true)
      expect(rows[1]!["body"]).toBe(plainText)
      // The readable text of the base64 one is in the export too, decoded from its declared charset.
      expect(stores.find((s) => s.store === "texts")?.rows.find((r) => r["message_id"] === "b1@y.example")?.["text"]).toContain("Tr\u00e8s bien")
    }).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(5))))), 120_000)
})
