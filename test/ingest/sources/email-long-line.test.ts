// An mbox is read a line at a time; a line past 64 MB (cdp ingest's line limit; RFC 5322 allows 998 characters) is
// refused naming it instead of held whole. Found probing the CLI: `cdp ingest --source email` of an mbox whose second
// line was 700 MB crashed with readline's "RangeError: Invalid string length" and a stack trace.
import { createWriteStream, rmSync } from "node:fs"
import { once } from "node:events"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { readEmailPath } from "../../../ingest/sources/email.ts"
import { collect, context, tempDir } from "./helpers.ts"

describe("an mbox with a line longer than 64 MB", () => {
  it("is refused naming the line and the limit, without holding the line whole", async () => {
    const dir = tempDir()
    const file = join(dir, "long.mbox")
    try {
      const out = createWriteStream(file)
      out.write("From ann@example.com Tue Sep 17 11:58:24 2024\nFrom: Ann <ann@example.com>\nSubject: hi\n\n")
      const chunk = Buffer.alloc(1024 * 1024, "a")
      for (let i = 0; i < 80; i++) if (!out.write(chunk)) await once(out, "drain")
      out.end("\n")
      await once(out, "finish")
      await expect(collect(readEmailPath(file, context()))).rejects.toThrow("line 5 is longer than 67108864 bytes")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
