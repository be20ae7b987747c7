// A local HTTP server for a test (a receiver that answers as the test says): its server, to close, and its URL.
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"

export const listen = (handle: Parameters<typeof createServer>[1]) =>
  new Promise<{ server: Server; url: string }>((resolve) => {
    const server = createServer(handle)
    server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }))
  })
