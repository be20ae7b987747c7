// A post's author handle of nothing but spaces is refused as an empty one is. Found probing cdp serve: "author_handle":
// "   " was answered 200 and landed under the handle "reddit:   ", which identity refuses to link: the post tied to no
// one, out of reach of the author's erasure, where "" was refused (empty_field).
import { describe, expect, it } from "vitest"
import { parseSocialWebhook } from "../../../ingest/sources/social.ts"
import { context, split } from "./helpers.ts"

const post = (handle: string) => JSON.stringify({ id: "p1", network: "reddit", author_handle: handle, text: "I hate it", created_at: "2024-10-01T10:00:00Z" })

describe("social: a blank author handle", () => {
  it("refuses a handle of spaces or tabs naming /author_handle, and takes one with spaces inside", () => {
    for (const handle of ["   ", "\t", " \u00a0 "]) {
      const { events, deadLetters } = split(parseSocialWebhook(post(handle), context()))
      expect(events).toEqual([])
      expect(deadLetters.map((d) => [d.rejection.rule, d.rejection.field])).toEqual([["bad_format", "/author_handle"]])
      expect(deadLetters[0]!.rejection.message).toContain("author_handle must hold more than spaces")
    }
    expect(split(parseSocialWebhook(post("Coffee Lover"), context())).events).toHaveLength(1)
  })
})
