// Bodies that are not UTF-8 are refused with the byte offset, never silently replaced with U+FFFD; mail keeps its
// own charset, byte for byte.
import { isUtf8 } from "node:buffer"
import { Effect } from "effect"
import fc from "fast-check"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { decodeUtf8, offsetInDecoded } from "../../ingest/utf8.ts"
import { basicAuth, freshDir, post, query, removeDir, withCollector, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const bytes = (...parts: Array<string | ReadonlyArray<number>>): Uint8Array =>
  Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : Buffer.from(p))))

describe("decodeUtf8", () => {
  it("decodes UTF-8, a real U+FFFD included", () => {
    expect(decodeUtf8(bytes("h\u00e9 \uFFFD \u{1F600}"))).toBe("h\u00e9 \uFFFD \u{1F600}")
  })

  it("names the offset of the first invalid byte, after real U+FFFD characters too", () => {
    expect(decodeUtf8(bytes("ab", [0xff], "c"))).toMatchObject({ rule: "invalid_utf8", message: expect.stringContaining("0xff at offset 2") })
    expect(decodeUtf8(bytes("\uFFFD\u00e9", [0xe9], "x"))).toMatchObject({ message: expect.stringContaining("0xe9 at offset 5") })
    // A sequence cut short at the end.
    expect(decodeUtf8(bytes("abc", [0xe2, 0x82]))).toMatchObject({ message: expect.stringContaining("offset 3") })
  })

  it("finds the first invalid byte of a large body where decoding it whole finds it, at any place around a chunk's end", () => {
    // firstInvalidOffset reads 64 KiB at a time; the reference decodes everything (as it did), counting real U+FFFDs.
    const whole = offsetInDecoded
    const chars = ["a", "\u00e9", "\u20ac", "\u{1F600}", "\uFFFD"]
    const invalid = [[0xff], [0xe2, 0x82, 0x41], [0xc3, 0x28], [0xf0, 0x9f, 0x98, 0x41], [0x80], [0xe2, 0x82]]
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 3 }), fc.integer({ min: -8, max: 8 }), fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 0, max: invalid.length - 1 }), fc.uint8Array({ maxLength: 16 }),
      (chunks, shift, pattern, which, tail) => {
        const target = chunks * 64 * 1024 + shift
        const parts: Array<string> = []
        let length = 0
        for (let i = 0; ; i++) {
          const c = chars[pattern[i % pattern.length]!]!
          if (length + Buffer.byteLength(c) > target) break
          parts.push(c)
          length += Buffer.byteLength(c)
        }
        const body = bytes(parts.join(""), "a".repeat(target - length), invalid[which]!, [...tail])
        const refused = decodeUtf8(body)
        // The tail's random bytes can complete a cut sequence (E2 82 then 80 is the euro sign): the body is UTF-8.
        if (isUtf8(body)) expect(refused).toBe(Buffer.from(body).toString("utf8"))
        else expect((refused as { message: string }).message).toContain(`at offset ${whole(body)} `)
      }), { numRuns: 60 })
  })

  it("reads a 64 MB body refused at its start only up to its first chunk, not whole", () => {
    // Decoded whole to find the byte, it took 1.3-2.9 s here and a string of about 120 MB (load 23-28 on 2 cores).
    const body = Buffer.concat([Buffer.from("ab"), Buffer.from([0xff]), Buffer.alloc(64 * 1024 * 1024, 0xe9)])
    const heap = process.memoryUsage().heapUsed
    const refused = decodeUtf8(body)
    expect(process.memoryUsage().heapUsed - heap).toBeLessThan(16 * 1024 * 1024)
    expect(refused).toMatchObject({ rule: "invalid_utf8", message: expect.stringContaining("0xff at offset 2 ") })
  })
})

describe("collector: text encodings", () => {
  it("answers 400 invalid_utf8 naming the offset on Segment routes and JSON webhooks, and lands nothing", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        // Latin-1 "é" (0xE9) inside an otherwise valid message: before, it landed as U+FFFD.
        const head = '{"userId":"u","event":"Caf'
        const body = bytes(head, [0xe9], '","messageId":"m1"}')
        const track = yield* post(`${url}/v1/track`, body)
        expect(track.status).toBe(400)
        expect(track.body).toMatchObject({ success: false, rule: "invalid_utf8", error: expect.stringContaining(`0xe9 at offset ${head.length}`) })
        const post1 = '{"id":"1","network":"n","author_handle":"h","text":"'
        const social = yield* post(`${url}/v1/webhooks/social`, bytes(post1, [0xc3, 0x28], '"}'),
          { authorization: basicAuth(WRITE_KEY) })
        expect(social.body).toMatchObject({ rule: "invalid_utf8", error: expect.stringContaining(`0xc3 at offset ${post1.length}`) })
        expect(yield* query("SELECT count() AS n FROM events")).toEqual([{ n: "0" }])
      })))

  it("keeps a Latin-1 mail posted to the e-mail webhook byte for byte (its text decoded by its charset)", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const mail = bytes(
          "From: Ren\u00e9 <rene@example.com>\r\nTo: support@example.com\r\nSubject: caf\u00e9\r\n" +
            "Message-ID: <latin1@example.com>\r\nDate: Mon, 2 Sep 2024 11:39:49 +0000\r\n" +
            "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nMerci, le caf",
          [0xe9], " est froid.\r\n")
        const res = yield* post(`${url}/v1/webhooks/email`, mail, { authorization: basicAuth(WRITE_KEY), "content-type": "message/rfc822" })
        expect(res).toEqual({ status: 200, body: { success: true, accepted: 1 } })
        const texts = yield* query<{ text: string }>("SELECT text FROM texts")
        expect(texts.map((t) => t.text.trim())).toEqual(["Merci, le caf\u00e9 est froid."])
      })))
})
