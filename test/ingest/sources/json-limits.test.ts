// Every JSON reader of the file sources and of the raw parsers (replay, dead-letter retry) refuses nesting past the
// limit as a dead letter kept whole, and the other items still import.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { JSON_LIMITS } from "../../../ingest/json.ts"
import { FILE_SOURCES, RAW_PARSERS } from "../../../ingest/sources/index.ts"
import { collect, context, split, tempDir } from "./helpers.ts"
import { rmSync } from "node:fs"

let dir: string
beforeEach(() => { dir = tempDir() })
afterEach(() => rmSync(dir, { recursive: true, force: true }))

const DEEP = `${"[".repeat(100_000)}${"]".repeat(100_000)}`
const AT = "2024-09-02T11:39:49Z"

/** Per source: a good item and the same item carrying a field nested 100,000 levels deep (JSON text). */
const ITEMS: Record<string, { readonly good: string; readonly deep: string }> = {
  segment: {
    good: `{"type":"track","event":"E","userId":"u","messageId":"s1","timestamp":"${AT}"}`,
    deep: `{"type":"track","event":"E","userId":"u","messageId":"s2","timestamp":"${AT}","properties":{"x":${DEEP}}}`,
  },
  chat: {
    good: `{"conversation_id":"c1","visitor_id":"v","started_at":"${AT}","messages":[{"from":"visitor","at":"${AT}","text":"hi"}]}`,
    deep: `{"conversation_id":"c2","visitor_id":"v","started_at":"${AT}","messages":[{"from":"visitor","at":"${AT}","text":"hi"}],"x":${DEEP}}`,
  },
  social: {
    good: `{"id":"p1","network":"forum","author_handle":"h","text":"t","created_at":"${AT}"}`,
    deep: `{"id":"p2","network":"forum","author_handle":"h","text":"t","created_at":"${AT}","x":${DEEP}}`,
  },
  sendgrid: {
    good: `{"email":"a@example.com","timestamp":1725277189,"event":"open","sg_event_id":"g1"}`,
    deep: `{"email":"a@example.com","timestamp":1725277189,"event":"open","sg_event_id":"g2","x":${DEEP}}`,
  },
  twitter: {
    good: `{"data":[{"id":"101","text":"hi","author_id":"11","created_at":"${AT}"}]}`,
    deep: `{"data":[{"id":"102","text":"hi","author_id":"11","created_at":"${AT}","x":${DEEP}}]}`,
  },
}

describe("file sources refuse nesting past the limit", () => {
  for (const source of ["segment", "chat", "social", "sendgrid"]) {
    it(`${source}: an NDJSON line nested 100,000 levels deep is a too_deep dead letter, kept whole; the other line imports`, async () => {
      const path = join(dir, `${source}.ndjson`)
      writeFileSync(path, `${ITEMS[source]!.good}\n${ITEMS[source]!.deep}\n`)
      const { events, deadLetters } = await collect(FILE_SOURCES.get(source)!.read(path, context()))
      expect(events).toHaveLength(1)
      expect(deadLetters.map((d) => [d.rejection.rule, d.payload])).toEqual([["too_deep", ITEMS[source]!.deep]])
      expect(deadLetters[0]!.rejection.message).toContain(`more than ${JSON_LIMITS.maxDepth} levels`)
    })
  }

  it("sendgrid and twitter documents nested too deep are one dead letter naming the file", async () => {
    for (const source of ["sendgrid", "twitter"]) {
      const path = join(dir, `${source}.json`)
      const text = `[${ITEMS[source]!.good},${ITEMS[source]!.deep}]`
      writeFileSync(path, text)
      const { events, deadLetters } = await collect(FILE_SOURCES.get(source)!.read(path, context()))
      expect(events, source).toEqual([])
      expect(deadLetters.map((d) => [d.rejection.rule, d.payload]), source).toEqual([["too_deep", text]])
    }
  })
})

describe("raw parsers (replay and dead-letter retry) refuse nesting past the limit", () => {
  for (const source of Object.keys(ITEMS)) {
    it(`${source}: a raw item nested too deep stays a too_deep dead letter, kept whole`, async () => {
      const parse = RAW_PARSERS.get(source)!
      expect(split(await parse(ITEMS[source]!.good, undefined, context())).events).toHaveLength(1)
      const { events, deadLetters } = split(await parse(ITEMS[source]!.deep, undefined, context()))
      expect(events).toEqual([])
      expect(deadLetters.map((d) => [d.rejection.rule, d.payload])).toEqual([["too_deep", ITEMS[source]!.deep]])
    })
  }
})

describe("file sources refuse bytes that are not UTF-8", () => {
  it("an NDJSON line with a Latin-1 byte is an invalid_utf8 dead letter naming the line and offset; the others import", async () => {
    for (const source of ["segment", "social"]) {
      const path = join(dir, `${source}.ndjson`)
      const bad = Buffer.concat([Buffer.from(ITEMS[source]!.good.replace('"E"', '"Caf').replace('"t"', '"Caf')), Buffer.from([0xe9]), Buffer.from('"}')])
      writeFileSync(path, Buffer.concat([Buffer.from(`${ITEMS[source]!.good}\r\n`), bad, Buffer.from("\n")]))
      const { events, deadLetters } = await collect(FILE_SOURCES.get(source)!.read(path, context()))
      expect(events, source).toHaveLength(1)
      expect(deadLetters.map((d) => d.rejection.rule), source).toEqual(["invalid_utf8"])
      expect(deadLetters[0]!.rejection.message, source).toMatch(/^line 2: .*0xe9 at offset \d+/)
    }
  })

  it("a SendGrid or X file that is not UTF-8 is refused naming the offset", async () => {
    for (const source of ["sendgrid", "twitter"]) {
      const path = join(dir, `${source}.json`)
      writeFileSync(path, Buffer.concat([Buffer.from(`[${ITEMS[source]!.good}`), Buffer.from([0xff]), Buffer.from("]")]))
      const { events, deadLetters } = await collect(FILE_SOURCES.get(source)!.read(path, context()))
      expect(events, source).toEqual([])
      expect(deadLetters.map((d) => d.rejection.rule), source).toEqual(["invalid_utf8"])
      expect(deadLetters[0]!.rejection.message, source).toContain(`0xff at offset ${ITEMS[source]!.good.length + 1}`)
    }
  })
})
