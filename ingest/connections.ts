// Connection limits of the collector: a cap on all connections (each holds a file descriptor), and a smaller cap on
// connections that have not yet sent a request with a valid key, so that many idle or slow sockets without a key
// cannot take every descriptor while senders with a key still get in.
import type { Server } from "node:http"
import type { Socket } from "node:net"

export interface ConnectionLimits {
  /** All open connections; past it, new ones are closed as they arrive (Node's server.maxConnections). */
  readonly maxConnections: number
  /**
   * Connections that have not yet sent a request with a valid write key or token. Past it, the oldest such
   * connection is answered 503 and closed, so a new sender with a key is never locked out by idle sockets.
   */
  readonly maxUnauthenticated: number
}

const BUSY_BODY = JSON.stringify({
  success: false,
  rule: "too_many_connections",
  error: "too many connections without a valid key are open; this one was closed, retry later",
})
const BUSY = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\nretry-after: 5\r\n" +
  `content-length: ${Buffer.byteLength(BUSY_BODY)}\r\n\r\n${BUSY_BODY}`

export interface ConnectionGuard {
  /** Marks the connection as one that has presented a valid key: it no longer counts against the unauthenticated cap. */
  readonly trust: (socket: Socket) => void
  /** Connections that have not presented a valid key yet. */
  readonly unauthenticated: () => number
}

export const guardConnections = (server: Server, limits: ConnectionLimits): ConnectionGuard => {
  server.maxConnections = limits.maxConnections
  // A Set iterates in insertion order: the first entry is the oldest unauthenticated connection.
  const pending = new Set<Socket>()
  server.on("connection", (socket: Socket) => {
    pending.add(socket)
    socket.once("close", () => pending.delete(socket))
    if (pending.size <= limits.maxUnauthenticated) return
    const oldest: Socket = pending.values().next().value!
    pending.delete(oldest)
    // An answer only where nothing was written yet: bytes after a partial response would corrupt it.
    if (oldest.bytesWritten === 0 && oldest.writable) oldest.end(BUSY, () => oldest.destroy())
    else oldest.destroy()
  })
  return {
    trust: (socket) => {
      pending.delete(socket)
    },
    unauthenticated: () => pending.size,
  }
}
