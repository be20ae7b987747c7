// Connection limits and slow senders, with real sockets: idle connections without a key cannot lock out senders
// with one, one key's connections cannot lock out other keys and /health, and slow headers and bodies (a pause, or a
// trickle below the minimum rate) are answered 408 and closed.
import { Agent, request as httpRequest } from "node:http"
import { connect, type Socket } from "node:net"
import { Duration, Effect, Layer, Logger } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { backendConfig, pipelineLayer } from "../../cli/layers.ts"
import { Collector, type CollectorOptions } from "../../ingest/collector.ts"
import { mapBounded, parseEmailWebhook } from "../../ingest/sources/email.ts"
import { writeKeys } from "../../ingest/writekeys.ts"
import { context, split } from "./sources/helpers.ts"
import { basicAuth, freshDir, OTHER_TENANT_KEY, post, removeDir, TEST_KEYS, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const withLimitedCollector = <A>(options: Partial<CollectorOptions>, program: (url: string, port: number) => Promise<A>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const collector = yield* Collector
    const port = Number(new URL(collector.url).port)
    return yield* Effect.promise(() => program(collector.url, port))
  })).pipe(
    Effect.provide(Collector.layer({ port: 0, host: "127.0.0.1", writeKeys: writeKeys(TEST_KEYS), ...options }).pipe(
      Layer.provideMerge(pipelineLayer(backendConfig(dir))))),
    Effect.provide(Logger.layer([])),
  ))

interface Opened {
  readonly socket: Socket
  /** Everything the server sent, once it closed the connection. */
  readonly closed: Promise<string>
}

const open = (port: number): Promise<Opened> =>
  new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1")
    let received = ""
    socket.setEncoding("utf8")
    socket.on("data", (d: string) => { received += d })
    const closed = new Promise<string>((done) => socket.on("close", () => done(received)))
    socket.on("error", () => {})
    socket.once("connect", () => resolve({ socket, closed }))
    socket.once("error", reject)
  })

describe("connection limits", () => {
  it("closes the oldest connections without a key past the cap (503), while a sender with a key still lands", () =>
    withLimitedCollector({ maxUnauthenticatedConnections: 5 }, async (url, port) => {
      const idle: Array<Opened> = []
      for (let i = 0; i < 8; i++) idle.push(await open(port))
      const evicted = await Promise.all(idle.slice(0, 3).map((c) => c.closed))
      for (const answer of evicted) {
        expect(answer).toMatch(/^HTTP\/1\.1 503 /)
        expect(answer).toContain('"rule":"too_many_connections"')
      }
      const res = await Effect.runPromise(post(`${url}/v1/track`, { userId: "u", event: "E", messageId: "through" }))
      expect(res).toEqual({ status: 200, body: { success: true, accepted: 1 } })
      // The authenticated request's own connection took a place among the unauthenticated ones at first: one more went.
      expect(await idle[3]!.closed).toMatch(/^HTTP\/1\.1 503 /)
      expect(idle.slice(4).every((c) => !c.socket.destroyed)).toBe(true)
      for (const c of idle) c.socket.destroy()
    }))

  it("refuses connections past maxConnections", () =>
    withLimitedCollector({ maxConnections: 3 }, async (_url, port) => {
      const held = [await open(port), await open(port), await open(port)]
      const extra = await open(port)
      expect(await extra.closed).toBe("")
      expect(held.every((c) => !c.socket.destroyed)).toBe(true)
      for (const c of held) c.socket.destroy()
    }))

  it("answers 408 and closes a connection whose headers do not arrive in time", () =>
    withLimitedCollector({ headersTimeout: Duration.millis(300), requestTimeout: Duration.seconds(30) }, async (_url, port) => {
      const slow = await open(port)
      slow.socket.write("POST /v1/track HTTP/1.1\r\nHost: localhost\r\n")
      expect(await slow.closed).toMatch(/^HTTP\/1\.1 408 /)
    }))

  it("answers 408 body_timeout when a body stalls, after the key was checked", () =>
    withLimitedCollector({ bodyIdleTimeout: Duration.millis(300) }, async (_url, port) => {
      const slow = await open(port)
      slow.socket.write(
        `POST /v1/track HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${basicAuth(WRITE_KEY)}\r\n` +
          "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"userId\":")
      const answer = await slow.closed
      expect(answer).toMatch(/^HTTP\/1\.1 408 /)
      expect(answer).toContain('"rule":"body_timeout"')
    }))
})

/** Sends a request on an open connection and resolves with its answer (the connection stays open: keep-alive). */
const request = (c: Opened, raw: string): Promise<string> =>
  new Promise((resolve) => {
    let answer = ""
    const onData = (d: string) => {
      answer += d
      const head = answer.indexOf("\r\n\r\n")
      const length = /content-length: (\d+)/i.exec(answer)
      const whole = length === null ? answer.endsWith("\r\n0\r\n\r\n") : answer.length >= head + 4 + Number(length[1])
      if (head !== -1 && whole) {
        c.socket.off("data", onData)
        resolve(answer)
      }
    }
    c.socket.on("data", onData)
    c.socket.write(raw)
  })

const track = (key: string, messageId: string) => {
  const body = JSON.stringify({ userId: "u", event: "E", messageId })
  return `POST /v1/track HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${basicAuth(key)}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
}

/** Starts a request whose body then comes one byte at a time, every `everyMs`, until the connection closes. */
const trickle = (c: Opened, key: string, everyMs: number) => {
  c.socket.write(`POST /v1/track HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${basicAuth(key)}\r\n` +
    "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
  const timer = setInterval(() => { if (c.socket.writable) c.socket.write(" ") }, everyMs)
  void c.closed.then(() => clearInterval(timer))
  return timer
}

describe("one write key's senders (a browser key is public)", () => {
  it("cannot lock out another tenant's sender or /health by holding every connection with slow bodies", () =>
    withLimitedCollector({ maxConnections: 30, maxUnauthenticatedConnections: 10, maxConnectionsPerKey: 5 }, async (url, port) => {
      // As the attack: each connection first sends a valid request (so it is trusted), then trickles a second body.
      const flood: Array<Opened> = []
      const timers: Array<NodeJS.Timeout> = []
      const stop = () => {
        for (const t of timers) clearInterval(t)
        for (const c of flood) c.socket.destroy()
      }
      try {
        for (let i = 0; i < 40; i++) {
          const c = await open(port)
          flood.push(c)
          const first = await Promise.race([request(c, track(WRITE_KEY, `flood-${i}`)), c.closed])
          if (!first.startsWith("HTTP/1.1 200")) break
          timers.push(trickle(c, WRITE_KEY, 200))
        }
        expect(flood).toHaveLength(40)
        const other = await Effect.runPromise(post(`${url}/v1/track`, { userId: "v", event: "E", messageId: "other-tenant" },
          { authorization: basicAuth(OTHER_TENANT_KEY) }))
        expect(other).toEqual({ status: 200, body: { success: true, accepted: 1 } })
        expect((await fetch(`${url}/health`)).status).toBe(200)
        // The key keeps at most its cap of connections; the slowest of the others were answered 503 and closed.
        expect(flood.filter((c) => !c.socket.destroyed && !c.socket.readableEnded).length).toBeLessThanOrEqual(5)
        expect(await flood[0]!.closed).toContain('"rule":"too_many_connections"')
      } finally {
        stop()
      }
    }))

  it("closes the key's oldest idle connection past its cap, keeping the newest", () =>
    withLimitedCollector({ maxConnectionsPerKey: 3 }, async (_url, port) => {
      const held: Array<Opened> = []
      for (let i = 0; i < 5; i++) {
        const c = await open(port)
        expect(await request(c, track(WRITE_KEY, `idle-${i}`))).toMatch(/^HTTP\/1\.1 200 /)
        held.push(c)
      }
      await Promise.all([held[0]!.closed, held[1]!.closed])
      // Another key's connections are not counted against this one's.
      const other = await open(port)
      expect(await request(other, track(OTHER_TENANT_KEY, "other"))).toMatch(/^HTTP\/1\.1 200 /)
      expect(held.slice(2).every((c) => !c.socket.destroyed && !c.socket.readableEnded)).toBe(true)
      for (const c of [...held, other]) c.socket.destroy()
    }))
})

/** What the server sent once it closed the connection, or "still open" after `ms`. */
const closedWithin = (c: Opened, ms: number): Promise<string> =>
  Promise.race([c.closed, new Promise<string>((resolve) => setTimeout(() => resolve("still open"), ms))])

describe("an API route's body that stalls, and CONNECT", () => {
  // Found probing cdp serve: POST /v1/query whose body stalled was answered 408 and the connection stayed open, its
  // unread body still to come on it (read as the next request's start); and CONNECT was closed without a word.
  it("a stalled API body is answered 408 body_timeout with connection: close, and the connection is closed", () =>
    withLimitedCollector({ bodyIdleTimeout: Duration.millis(300), adminToken: "edge-admin-token" }, async (_url, port) => {
      const slow = await open(port)
      slow.socket.write("POST /v1/query HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer edge-admin-token\r\n" +
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"sql\":")
      const answer = await closedWithin(slow, 5000)
      slow.socket.destroy()
      expect(answer).toMatch(/^HTTP\/1\.1 408 /)
      expect(answer).toMatch(/\r\nconnection: close\r\n/i)
      expect(answer).toContain('"rule":"body_timeout"')
    }))

  it("CONNECT is answered 405 in JSON naming the method, and the connection is closed", () =>
    withLimitedCollector({}, async (_url, port) => {
      const c = await open(port)
      c.socket.write("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
      const answer = await closedWithin(c, 5000)
      c.socket.destroy()
      expect(answer).toMatch(/^HTTP\/1\.1 405 /)
      expect(answer).toMatch(/\r\nconnection: close\r\n/i)
      expect(answer).toMatch(/\r\ncontent-type: application\/json\r\n/i)
      const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)) as Record<string, unknown>
      expect(body).toMatchObject({ success: false, rule: "method_not_allowed" })
      expect(body.error).toContain("CONNECT")
      // The server still answers on other connections.
      const next = await open(port)
      expect(await request(next, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")).toMatch(/^HTTP\/1\.1 (200|503) /)
      next.socket.destroy()
    }))
})

describe("a body trickled in", () => {
  it("is answered 408 body_too_slow once it falls below the minimum rate, though no pause reaches the idle timeout", () =>
    withLimitedCollector({ minBodyRate: 100, bodyRateGrace: Duration.millis(300), requestTimeout: Duration.seconds(20) }, async (_url, port) => {
      const slow = await open(port)
      const timer = trickle(slow, WRITE_KEY, 50)
      const answer = await slow.closed
      clearInterval(timer)
      expect(answer).toMatch(/^HTTP\/1\.1 408 /)
      expect(answer).toContain('"rule":"body_too_slow"')
    }))

  it("lands when it keeps the rate", () =>
    withLimitedCollector({ minBodyRate: 10, bodyRateGrace: Duration.millis(200) }, async (_url, port) => {
      const c = await open(port)
      const body = JSON.stringify({ userId: "u", event: "E", messageId: "steady" })
      c.socket.write(`POST /v1/track HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${basicAuth(WRITE_KEY)}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`)
      const answered = request(c, "")
      // Half the body at once, the rest in pieces well within the rate.
      c.socket.write(body.slice(0, 25))
      for (let i = 25; i < body.length; i += 5) {
        await new Promise((r) => setTimeout(r, 60))
        c.socket.write(body.slice(i, i + 5))
      }
      expect(await answered).toMatch(/^HTTP\/1\.1 200 /)
      c.socket.destroy()
    }))
})

describe("mbox posted to the e-mail webhook", () => {
  it("runs at most `limit` parses at once and keeps the order of the items", async () => {
    let inFlight = 0
    let most = 0
    const out = await mapBounded(Array.from({ length: 40 }, (_, i) => i), 4, async (i) => {
      inFlight++
      most = Math.max(most, inFlight)
      await new Promise((r) => setImmediate(r))
      inFlight--
      return i * 2
    })
    expect(most).toBe(4)
    expect(out).toEqual(Array.from({ length: 40 }, (_, i) => i * 2))
  })

  it("parses every message of a large mbox, in order", async () => {
    const message = (i: number) =>
      `From sender${i}@example.com Mon Sep  2 11:39:49 2024\nFrom: s${i}@example.com\nMessage-ID: <m${i}@example.com>\n` +
      `Date: Mon, 2 Sep 2024 11:39:49 +0000\nSubject: ${i}\n\nbody ${i}\n\n`
    const mbox = Array.from({ length: 60 }, (_, i) => message(i)).join("")
    const { events, deadLetters } = split(await parseEmailWebhook(Buffer.from(mbox), context()))
    expect(deadLetters).toEqual([])
    expect(events.map((e) => e.messageId)).toEqual(Array.from({ length: 60 }, (_, i) => `m${i}@example.com`))
  })
})

describe("a flooding sender past its key's cap", () => {
  it("gets an answer to every request (its own connections given up with an answer, not reset under it)", () =>
    withLimitedCollector({ maxConnectionsPerKey: 3, maxPendingPerTenant: 400 }, async (url) => {
      // As a flooding client does: more keep-alive connections than the key may hold, each sending as soon as it was
      // answered. A connection the guard gives up on must not be closed while its client may be sending on it.
      const agent = new Agent({ keepAlive: true, maxSockets: 12 })
      const outcomes: Array<string> = []
      const send = (messageId: string) => new Promise<void>((resolve) => {
        // A batch of about 200 KB: its body takes a while to arrive, as a flooding client's do.
        const body = JSON.stringify({ batch: Array.from({ length: 400 }, (_, i) => ({ type: "track", userId: "u", event: "E", messageId: `${messageId}-${i}`, properties: { note: "x".repeat(400) } })) })
        const req = httpRequest(`${url}/v1/batch`, {
          method: "POST", agent,
          headers: { authorization: basicAuth(WRITE_KEY), "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        }, (res) => {
          res.resume()
          res.on("end", () => { outcomes.push(String(res.statusCode)); resolve() })
        })
        req.on("error", (e: NodeJS.ErrnoException) => { outcomes.push(`socket error ${e.code ?? e.message}`); resolve() })
        req.end(body)
      })
      try {
        await Promise.all(Array.from({ length: 12 }, async (_, c) => {
          for (let i = 0; i < 15; i++) await send(`flood-${c}-${i}`)
        }))
      } finally {
        agent.destroy()
      }
      const errors = outcomes.filter((o) => o.startsWith("socket error"))
      expect(outcomes).toHaveLength(180)
      expect(errors, `${errors.length} of 180 requests ended in a socket error: ${[...new Set(errors)].join(", ")}`).toEqual([])
    }), 60_000)
})

describe("an HTTP Upgrade request (websocket, h2c)", () => {
  // Node's server hands a request with Connection: Upgrade to 'upgrade' listeners; the collector serves none, so every
  // route must answer it as it answers any request (ignoring the upgrade) or refuse it in JSON, never hang or drop it.
  const UPGRADES = {
    websocket: "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
    h2c: "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n",
  }
  /** A chunked body's bytes. */
  const unchunk = (text: string): string => {
    let out = ""
    for (let at = 0; ;) {
      const line = text.indexOf("\r\n", at)
      const size = parseInt(text.slice(at, line), 16)
      if (!(size > 0)) return out
      out += text.slice(line + 2, line + 2 + size)
      at = line + 2 + size + 2
    }
  }
  const withBody = (head: string, body: string) => `${head}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  const ROUTES: ReadonlyArray<readonly [string, (upgrade: string) => string]> = [
    ["Segment", (u) => withBody(`POST /v1/track HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${basicAuth(WRITE_KEY)}\r\n${u}`,
      JSON.stringify({ userId: "u", event: "E", messageId: "upgrade" }))],
    ["webhook", (u) => withBody(`POST /v1/webhooks/sendgrid HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${basicAuth(WRITE_KEY)}\r\n${u}`, "[]")],
    ["API GET", (u) => `GET /v1/tokens HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer edge-admin-token\r\n${u}\r\n`],
    ["API POST", (u) => withBody(`POST /v1/query HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer edge-admin-token\r\n${u}`,
      JSON.stringify({ tenant: "acme", sql: "SELECT 1 AS one" }))],
    ["/health", (u) => `GET /health HTTP/1.1\r\nHost: localhost\r\n${u}\r\n`],
  ]

  it("is answered on every route kind (served, or a JSON 4xx), and the connection then serves or closes cleanly", () =>
    withLimitedCollector({ adminToken: "edge-admin-token" }, async (_url, port) => {
      for (const [route, raw] of ROUTES) {
        for (const [kind, upgrade] of Object.entries(UPGRADES)) {
          const what = `${route} with Upgrade: ${kind}`
          const c = await open(port)
          const answer = await Promise.race([request(c, raw(upgrade)), c.closed.then((s) => `closed: ${s}`),
            new Promise<string>((resolve) => setTimeout(() => resolve("no answer in 5 s"), 5000))])
          // The connection is then an HTTP/1.1 connection still (a next request answered), or closed after the answer.
          const next = answer.startsWith("closed: ") ? "closed" : await Promise.race([
            request(c, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"), c.closed.then(() => "closed"),
            new Promise<string>((resolve) => setTimeout(() => resolve("no answer in 5 s"), 5000))])
          c.socket.destroy()
          expect(next, `${what}, then GET /health on its connection`).toMatch(/^(HTTP\/1\.1 200 |closed$)/)
          expect(answer, what).toMatch(/^HTTP\/1\.1 [2-4]\d\d /)
          expect(answer, what).not.toMatch(/^HTTP\/1\.1 101 /)
          expect(answer, what).toMatch(/\r\ncontent-type: application\/json/i)
          const sent = answer.slice(answer.indexOf("\r\n\r\n") + 4)
          const body = /\r\ntransfer-encoding: chunked/i.test(answer) ? unchunk(sent) : sent
          expect(() => JSON.parse(body), `${what}: ${body}`).not.toThrow()
        }
      }
    }), 60_000)
})
