// A mail message larger than 64 MB (cdp ingest's item limit; mail services refuse far smaller ones) is refused
// naming its size, not read: found probing the CLI, a 1 GB .eml was read whole (3.6 GB of memory) and failed with
// V8's own message. In an mbox the message's lines past the limit are only counted; the messages around it land.
import { createWriteStream, rmSync, statSync } from "node:fs"
import { once } from "node:events"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { JSON_LIMITS } from "../../../ingest/json.ts"
import { readEmailPath } from "../../../ingest/sources/email.ts"
import { collect, context, tempDir } from "./helpers.ts"

const MAX_MESSAGE_BYTES = JSON_LIMITS.maxBytes

const message = (from: string, id: string) =>
  `From: ${from}\nTo: support@shop.example\nSubject: hello\nMessage-ID: <${id}@mail.example>\nDate: Tue, 17 Sep 2024 11:58:24 +0000\n\nWhere is my order?\n`

/** Writes `head`, then lines of 1,000 bytes until past `bytes`, then `tail`. */
const writeBig = async (file: string, head: string, bytes: number, tail: string) => {
  const out = createWriteStream(file)
  out.write(head)
  const line = Buffer.from(`${"x".repeat(999)}\n`)
  const block = Buffer.concat(Array.from({ length: 1024 }, () => line))
  for (let written = 0; written <= bytes; written += block.length) if (!out.write(block)) await once(out, "drain")
  out.end(tail)
  await once(out, "finish")
}

describe("a mail message larger than 64 MB", () => {
  it("a .eml file is refused naming its size, unread", async () => {
    const dir = tempDir()
    const file = join(dir, "big.eml")
    try {
      await writeBig(file, message("ann@mail.example", "big"), MAX_MESSAGE_BYTES, "")
      const { events, deadLetters } = await collect(readEmailPath(file, context()))
      expect(events).toEqual([])
      expect(deadLetters.map((d) => [d.rejection.rule, d.rejection.message])).toEqual([
        ["too_large", `${file}: the message is ${statSync(file).size} bytes; at most ${MAX_MESSAGE_BYTES} are read`],
      ])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)

  it("in an mbox, that message is refused and the messages around it land", async () => {
    const dir = tempDir()
    const file = join(dir, "archive.mbox")
    try {
      const sep = "From someone@mail.example Tue Sep 17 11:58:24 2024\n"
      await writeBig(file, `${sep}${message("ann@mail.example", "one")}\n${sep}${message("bob@mail.example", "two")}`, MAX_MESSAGE_BYTES,
        `\n${sep}${message("cy@mail.example", "three")}`)
      const started = process.memoryUsage().rss
      const { events, deadLetters } = await collect(readEmailPath(file, context()))
      expect(events.map((e) => e.messageId)).toEqual(["one@mail.example", "three@mail.example"])
      expect(deadLetters.map((d) => [d.rejection.rule, d.rejection.message.replace(/is \d+ bytes/, "is N bytes")])).toEqual([
        ["too_large", `${file} message 2 (line 10): the message is N bytes; at most ${MAX_MESSAGE_BYTES} are read`],
      ])
      expect(process.memoryUsage().rss - started).toBeLessThan(300 * 1024 * 1024)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
