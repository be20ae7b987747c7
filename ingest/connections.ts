// Connection limits of the collector: a cap on all connections (each holds a file descriptor), a smaller cap on
// connections that have not yet sent a request with a valid key, and a cap per write key, so that neither sockets
// without a key nor one key's senders (a browser key is public) can take every descriptor while other tenants and
// /health still get in; and a minimum body rate, so a body trickled a byte at a time cannot hold a connection for long.
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import type { Socket } from "node:net"

export interface ConnectionLimits {
  /** All open connections; past it, new ones are closed as they arrive (Node's server.maxConnections). */
  readonly maxConnections: number
  /**
   * Connections that have not yet sent a request with a valid write key or token. Past it, the oldest such
   * connection is answered 503 and closed, so a new sender with a key is never locked out by idle sockets.
   */
  readonly maxUnauthenticated: number
  /**
   * Connections whose latest valid key is one write key. Past it, that key's oldest idle connection is closed, or,
   * when none is idle, the one receiving its body the slowest is answered 503: one source cannot crowd out others.
   */
  readonly maxPerKey: number
  /**
   * A body must arrive at this average rate (bytes per second) once `bodyRateGraceMs` have passed since the request's
   * headers (as Apache's mod_reqtimeout does: the deadline is grace + bytes received / rate); else 408 and closed.
   */
  readonly minBodyRate: number
  readonly bodyRateGraceMs: number
}

const answer = (status: string, rule: string, error: string, retryAfter: boolean) => {
  const body = JSON.stringify({ success: false, rule, error })
  return `HTTP/1.1 ${status}\r\ncontent-type: application/json\r\nconnection: close\r\n${retryAfter ? "retry-after: 5\r\n" : ""}` +
    `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
}

const BUSY = answer("503 Service Unavailable", "too_many_connections",
  "too many connections without a valid key are open; this one was closed, retry later", true)
const BUSY_KEY = answer("503 Service Unavailable", "too_many_connections",
  "too many connections are open with this write key; this one, the slowest, was closed: retry later, with fewer at once", true)

/** The request a connection is serving now. */
interface InFlight {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly startedMs: number
  /** The socket's bytesRead when the headers had arrived: what came after is the body. */
  readonly bytesAtStart: number
}

/**
 * How long a connection given up while idle (its key past its cap) may still bring its next request, which is answered
 * and then closes it, before it is closed. Closed at once, a flooding client that had just sent on it (its answer
 * given, the rest of its body still coming, or its next request on the way) lost that request to a reset instead of
 * reading an answer: 10-15% of such a client's requests. With 1 s, a few in a hundred still were (a busy server
 * reads a request late); with 5 s none were in our runs, and the key's extra connections are gone within seconds.
 */
const RETIRE_GRACE_MS = 5_000
const RETIRE_CHECKS = 3

export interface ConnectionGuard {
  /**
   * Marks the connection as one that has presented a valid key (`key`; undefined for the admin token): it no longer
   * counts against the unauthenticated cap, and counts against its key's cap instead.
   */
  readonly trust: (socket: Socket, key?: string) => void
  /** Connections that have not presented a valid key yet. */
  readonly unauthenticated: () => number
  /** Open connections whose latest valid key is `key`. */
  readonly withKey: (key: string) => number
  /**
   * Whether the guard gave this connection up while it was idle: its next answer must close it (connection: close,
   * once its body has come whole), and it no longer counts against its key.
   */
  readonly retired: (socket: Socket) => boolean
  /** Whether the guard answered and closed this connection (its request's handler then has nobody to answer). */
  readonly wasCut: (socket: Socket) => boolean
  /** Stops the body-rate sweep (the server is closing). */
  readonly stop: () => void
}

export const guardConnections = (server: Server, limits: ConnectionLimits): ConnectionGuard => {
  server.maxConnections = limits.maxConnections
  // A Set iterates in insertion order: the first entry is the oldest unauthenticated connection.
  const pending = new Set<Socket>()
  const byKey = new Map<string, Set<Socket>>()
  const keyOf = new WeakMap<Socket, string>()
  const inFlight = new Map<Socket, InFlight>()
  const cut = new WeakSet<Socket>()
  const retiring = new WeakSet<Socket>()
  /** Each connection's latest request (answered or not): whether its body has come whole. */
  const lastRequest = new WeakMap<Socket, IncomingMessage>()

  const forgetKey = (socket: Socket) => {
    const key = keyOf.get(socket)
    if (key === undefined) return
    keyOf.delete(socket)
    const sockets = byKey.get(key)
    sockets?.delete(socket)
    if (sockets?.size === 0) byKey.delete(key)
  }

  /** Answers `raw` where nothing of the current response was written yet (else it would corrupt it), and closes. */
  const close = (socket: Socket, raw: string | undefined) => {
    cut.add(socket)
    const current = inFlight.get(socket)
    const untouched = current === undefined ? socket.bytesWritten === 0 : !current.res.headersSent
    if (raw !== undefined && untouched && socket.writable) socket.end(raw, () => socket.destroy())
    else socket.destroy()
  }

  /**
   * Gives up an idle connection: its next request is answered and closes it. Still idle after the grace, it is closed;
   * but not while bytes still come on it (the body of the request it was last answered: a 429 is answered before the
   * body is read, its client still sending; or the next request), for at most RETIRE_CHECKS graces. Looked at after the
   * loop's pending input was read (setImmediate), so a request that came while the loop was busy is seen first.
   */
  const retire = (socket: Socket) => {
    retiring.add(socket)
    let checks = 0
    let bytes = socket.bytesRead
    const check = () => {
      if (inFlight.has(socket) || socket.destroyed) return
      const arriving = socket.bytesRead !== bytes || lastRequest.get(socket)?.complete === false
      bytes = socket.bytesRead
      if (arriving && ++checks < RETIRE_CHECKS) timer.refresh()
      else close(socket, undefined)
    }
    const timer = setTimeout(() => setImmediate(check), RETIRE_GRACE_MS)
    timer.unref()
    socket.once("close", () => clearTimeout(timer))
  }

  server.on("connection", (socket: Socket) => {
    pending.add(socket)
    socket.once("close", () => {
      pending.delete(socket)
      forgetKey(socket)
      inFlight.delete(socket)
    })
    if (pending.size <= limits.maxUnauthenticated) return
    const oldest: Socket = pending.values().next().value!
    pending.delete(oldest)
    close(oldest, BUSY)
  })

  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket
    inFlight.set(socket, { req, res, startedMs: performance.now(), bytesAtStart: socket.bytesRead })
    lastRequest.set(socket, req)
    res.once("close", () => {
      if (inFlight.get(socket)?.res === res) inFlight.delete(socket)
    })
  })

  /** When the body must have arrived, at the minimum rate, given what arrived so far. */
  const bodyDeadline = (flight: InFlight) =>
    flight.startedMs + limits.bodyRateGraceMs + ((flight.req.socket.bytesRead - flight.bytesAtStart) / limits.minBodyRate) * 1000

  /**
   * The key's connection to give up for a new one: the oldest idle, else the slowest still receiving a body (the one
   * nearest its body deadline: a young request is not judged on its first bytes), never one being answered.
   */
  const victim = (sockets: Set<Socket>, keep: Socket): Socket | undefined => {
    let slowest: Socket | undefined
    let earliest = Infinity
    for (const s of sockets) {
      if (s === keep) continue
      const flight = inFlight.get(s)
      // Idle: answered, and its body (if any was left when answered) come whole; one still sending waits its turn.
      if (flight === undefined && lastRequest.get(s)?.complete !== false) return s
      if (flight === undefined) {
        slowest ??= s
        continue
      }
      if (flight.req.complete) continue
      const deadline = bodyDeadline(flight)
      if (deadline < earliest) {
        slowest = s
        earliest = deadline
      }
    }
    return slowest
  }

  // Bodies slower than the minimum rate are cut; checked often enough that none overstays its deadline by much.
  const sweep = setInterval(() => {
    const now = performance.now()
    for (const [socket, flight] of inFlight) {
      if (flight.req.complete || flight.res.headersSent) continue
      if (now <= bodyDeadline(flight)) continue
      close(socket, answer("408 Request Timeout", "body_too_slow",
        `the body arrived slower than ${limits.minBodyRate} bytes/s after the first ${limits.bodyRateGraceMs / 1000} s; send it at once`, false))
    }
  }, Math.max(10, Math.min(1000, limits.bodyRateGraceMs / 4)))
  sweep.unref()

  return {
    trust: (socket, key) => {
      pending.delete(socket)
      // Given up already: counted against no key while it serves its last request.
      if (retiring.has(socket)) return
      if (key === undefined || keyOf.get(socket) === key || socket.destroyed) return
      forgetKey(socket)
      keyOf.set(socket, key)
      const sockets = byKey.get(key) ?? new Set<Socket>()
      byKey.set(key, sockets)
      sockets.add(socket)
      if (sockets.size <= limits.maxPerKey) return
      const out = victim(sockets, socket)
      if (out === undefined) return
      // Out of the key's count at once, so the next newcomer does not pick the same one.
      forgetKey(out)
      // An idle keep-alive connection owes nobody an answer, but its client may be sending on it right now.
      if (inFlight.has(out)) close(out, BUSY_KEY)
      else retire(out)
    },
    unauthenticated: () => pending.size,
    withKey: (key) => byKey.get(key)?.size ?? 0,
    retired: (socket) => retiring.has(socket),
    wasCut: (socket) => cut.has(socket),
    stop: () => clearInterval(sweep),
  }
}
