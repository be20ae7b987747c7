// Test support: one call to the collector's API with a Bearer token (or none), its status and JSON body.
import { Effect } from "effect"

export type ApiBody = Record<string, any>

export const callApi = (url: string, method: string, path: string, token: string | null, body?: unknown) =>
  Effect.promise(async () => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    })
    return { status: res.status, body: (await res.json()) as ApiBody }
  })
