// A mail message larger than 64 MB (cdp ingest's item limit; mail services refuse far smaller ones) is refused
// naming its size, not read: found probing the CLI, a 1 GB .eml was read whole (3.6 GB of memory) and failed with
// V8's own message. In an mbox the message's lines past the limit are only counted; the messages around it land.
import { statSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { JSON_LIMITS } from "../../../ingest/json.ts"
import { readEmailPath } from "../../../ingest/sources/email.ts"
import { collect, collectMeasured, context, MB, inTempDir, writeBigFile } from "./helpers.ts"

const message = (from: string, id: string) =>
  `From: ${from}\nTo: support@shop.example\nSubject: hello\nMessage-ID: <${id}@mail.example>\nDate: Tue, 17 Sep 2024 11:58:24 +0000\n\nWhere is my order?\n`

/** A body of lines of about 1,000 bytes (a block cuts its last one short). */
const LINES = `${"x".repeat(999)}\n`

describe("a mail message larger than 64 MB", () => {
  it("a .eml file is refused naming its size, unread", async () => {
    await inTempDir("big.eml", async (file) => {
      await writeBigFile(file, message("ann@mail.example", "big"), JSON_LIMITS.maxBytes + 1, "", LINES)
      const { events, deadLetters } = await collect(readEmailPath(file, context()))
      expect(events).toEqual([])
      expect(deadLetters.map((d) => [d.rejection.rule, d.rejection.message])).toEqual([
        ["too_large", `${file}: the message is ${statSync(file).size} bytes; at most ${JSON_LIMITS.maxBytes} are read`],
      ])
    })
  }, 60_000)

  it("in an mbox, that message is refused and the messages around it land", async () => {
    await inTempDir("archive.mbox", async (file) => {
      const sep = "From someone@mail.example Tue Sep 17 11:58:24 2024\n"
      await writeBigFile(file, `${sep}${message("ann@mail.example", "one")}\n${sep}${message("bob@mail.example", "two")}`, JSON_LIMITS.maxBytes + 1,
        `\n${sep}${message("cy@mail.example", "three")}`, LINES)
      const { events, deadLetters, rssGrowth } = await collectMeasured(readEmailPath(file, context()))
      expect(events.map((e) => e.messageId)).toEqual(["one@mail.example", "three@mail.example"])
      expect(deadLetters.map((d) => [d.rejection.rule, d.rejection.message.replace(/is \d+ bytes/, "is N bytes")])).toEqual([
        ["too_large", `${file} message 2 (line 10): the message is N bytes; at most ${JSON_LIMITS.maxBytes} are read`],
      ])
      expect(rssGrowth).toBeLessThan(300 * MB)
    })
  }, 120_000)
})
