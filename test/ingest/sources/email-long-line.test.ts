// An mbox is read a line at a time; a line past 64 MB (cdp ingest's line limit; RFC 5322 allows 998 characters) is
// refused naming it instead of held whole. Found probing the CLI: `cdp ingest --source email` of an mbox whose second
// line was 700 MB crashed with readline's "RangeError: Invalid string length" and a stack trace.
import { describe, expect, it } from "vitest"
import { readEmailPath } from "../../../ingest/sources/email.ts"
import { collect, context, MB, inTempDir, writeBigFile } from "./helpers.ts"

describe("an mbox with a line longer than 64 MB", () => {
  it("is refused naming the line and the limit, without holding the line whole", async () => {
    await inTempDir("long.mbox", async (file) => {
      await writeBigFile(file, "From ann@example.com Tue Sep 17 11:58:24 2024\nFrom: Ann <ann@example.com>\nSubject: hi\n\n", 80 * MB, "\n")
      await expect(collect(readEmailPath(file, context()))).rejects.toThrow("line 5 is longer than 67108864 bytes")
    })
  }, 120_000)
})
