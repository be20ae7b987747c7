// Header abuse on a real collector, with raw sockets: too many or too large headers are a 4xx JSON answer naming the
// rule, two Authorization headers are refused rather than one of them picked, and Host / X-Forwarded-* change nothing.
import { connect } from "node:net"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { withApi } from "../support/api.ts"
import { basicAuth, freshDir, OTHER_TENANT_KEY, query, removeDir, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** Sends `head` (request line and header lines, without the blank line) and a body; everything the server answered. */
const exchange = (url: string, head: string, body: string) =>
  Effect.promise(() => new Promise<string>((resolve) => {
    const socket = connect(Number(new URL(url).port), "127.0.0.1")
    let received = ""
    socket.setEncoding("utf8")
    socket.on("data", (d: string) => {
      received += d
      // One answer is enough: a keep-alive connection would stay open.
      const end = received.indexOf("\r\n\r\n")
      const length = /content-length: (\d+)/i.exec(received)?.[1]
      if (end !== -1 && length !== undefined && received.length >= end + 4 + Number(length)) socket.end()
      if (end !== -1 && /transfer-encoding: chunked/i.test(received) && received.endsWith("0\r\n\r\n")) socket.end()
    })
    socket.on("error", () => {})
    socket.on("close", () => resolve(received))
    socket.write(`${head}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
  }))

const jsonOf = (answer: string) => {
  const body = answer.slice(answer.indexOf("\r\n\r\n") + 4)
  return JSON.parse(/transfer-encoding: chunked/i.test(answer) ? body.split("\r\n")[1]! : body) as Record<string, unknown>
}

const TRACK = JSON.stringify({ userId: "u1", event: "E", messageId: "m-1" })

describe("request headers", () => {
  it("10,000 headers, or one of 1 MB, are answered 431 with a JSON body naming the rule, and nothing lands", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const many = Array.from({ length: 10_000 }, (_, i) => `X-A${i}: 1`).join("\r\n")
      for (const extra of [many, `X-Big: ${"a".repeat(1024 * 1024)}`]) {
        const answer = yield* exchange(url, `POST /v1/track HTTP/1.1\r\nHost: x\r\nAuthorization: ${basicAuth(WRITE_KEY)}\r\n${extra}`, TRACK)
        expect(answer).toMatch(/^HTTP\/1\.1 431 /)
        expect(jsonOf(answer)).toMatchObject({ success: false, rule: "headers_too_large" })
      }
      expect(yield* query("SELECT count() AS n FROM events")).toEqual([{ n: "0" }])
    })))

  it("two Authorization headers are refused 400 naming the header, never one of them picked", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const answer = yield* exchange(url,
        `POST /v1/track HTTP/1.1\r\nHost: x\r\nAuthorization: ${basicAuth(WRITE_KEY)}\r\nAuthorization: ${basicAuth(OTHER_TENANT_KEY)}`, TRACK)
      expect(answer).toMatch(/^HTTP\/1\.1 400 /)
      expect(jsonOf(answer)).toMatchObject({ success: false, rule: "duplicate_authorization", field: "authorization" })
      expect(yield* query("SELECT count() AS n FROM events")).toEqual([{ n: "0" }])
    })))

  it("a spoofed Host or X-Forwarded-* changes neither the answer nor what is stored", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const answer = yield* exchange(url, `POST /v1/track HTTP/1.1\r\nHost: evil.example\r\nX-Forwarded-For: 203.0.113.9\r\n` +
        `X-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nAuthorization: ${basicAuth(WRITE_KEY)}`, TRACK)
      expect(answer).toMatch(/^HTTP\/1\.1 200 /)
      expect(answer).not.toContain("evil.example")
      const rows = yield* query<{ row: string }>("SELECT toJSONString(tuple(*)) AS row FROM events")
      expect(rows).toHaveLength(1)
      expect(rows[0]!.row).not.toContain("evil.example")
      expect(rows[0]!.row).not.toContain("203.0.113.9")
    })))
})
