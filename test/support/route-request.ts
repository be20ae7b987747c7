// Test support: a request as the collector hands it to a route once its guard has read the body (preReadBodies,
// ingest/query-route.ts), and the principal of the data dir's admin token, for calling a route without a server.
import type { IncomingMessage } from "node:http"
import { preReadBodies } from "../../ingest/query-route.ts"

export const routeRequest = (method: string, path: string, body?: unknown): IncomingMessage => {
  const req = { method, url: path, headers: {} } as IncomingMessage
  if (body !== undefined) preReadBodies.set(req, JSON.stringify(body))
  return req
}

export const ADMIN_PRINCIPAL = { tokenId: "admin-token", role: "admin" as const, tenant: undefined, scopes: new Set<never>() }
