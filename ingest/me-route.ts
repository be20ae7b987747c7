// GET /v1/me: what the asking token is and may do, for any valid token. A console shows a user the parts of the API
// their token reaches without trying each route and reading 403s; a script checks its token before a long job.
//   GET /v1/me   {token: {id, name, role, tenant, scopes, expiresAt}, routes: [{route, read, write}, ...]}
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { ADMIN_TOKEN_ID, ANY_TOKEN, type ApiRoute, type Principal, type TokenRegistry } from "./auth.ts"
import { type QueryReply, refuse } from "./query-route.ts"

export const ME_PATH = "/v1/me"

export interface MeView {
  readonly token: {
    readonly id: string
    /** The label it was made with ("" when none; the data directory's admin token has none). */
    readonly name: string
    readonly role: string
    /** The tenant it is bound to; null: every tenant. */
    readonly tenant: string | null
    readonly scopes: ReadonlyArray<string>
    readonly expiresAt: string | null
  }
  /** Each route this server serves, and whether the token may read it (GET) and write to it (POST, PUT, DELETE). */
  readonly routes: ReadonlyArray<{ readonly route: string; readonly read: boolean; readonly write: boolean }>
}

const may = (principal: Principal, needs: ApiRoute["read"]) => needs === ANY_TOKEN || principal.scopes.has(needs)

/** The view of `principal` over `served` (the routes this server has a handler for). */
export const meView = (principal: Principal, served: ReadonlyArray<ApiRoute>, registry: Pick<TokenRegistry, "find">): MeView => {
  const record = principal.tokenId === ADMIN_TOKEN_ID ? undefined : registry.find({ id: principal.tokenId })
  return {
    token: {
      id: principal.tokenId, name: record?.name ?? "", role: principal.role, tenant: principal.tenant ?? null,
      scopes: [...principal.scopes].sort(),
      expiresAt: typeof record?.expiresAtMs === "number" ? new Date(record.expiresAtMs).toISOString() : null,
    },
    routes: served.map((r) => ({ route: r.template, read: may(principal, r.read), write: may(principal, r.write) })),
  }
}

export const meRoute = (options: { readonly registry: Pick<TokenRegistry, "find">; readonly served: () => ReadonlyArray<ApiRoute> }) =>
  (req: IncomingMessage, principal: Principal): Effect.Effect<QueryReply> =>
    Effect.sync(() => {
      if (req.method !== "GET" && req.method !== "HEAD") return refuse(405, "method_not_allowed", `use GET ${ME_PATH}`, undefined, { allow: "GET" })
      const url = new URL(req.url ?? "/", "http://collector")
      const unknown = [...url.searchParams.keys()].find((k) => k !== "tenant")
      if (unknown !== undefined) return refuse(400, "unknown_parameter", `GET ${ME_PATH} takes no parameter (got ?${unknown}=)`, unknown)
      return { status: 200, body: { success: true, ...meView(principal, options.served(), options.registry) } }
    })
