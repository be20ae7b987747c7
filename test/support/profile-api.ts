// Test support for the profile routes on a real collector (test/support/api.ts withApi): a GET whose answer must be
// what ingest/openapi.json says its route answers.
import { Effect } from "effect"
import { type ApiBody, TEST_ADMIN_TOKEN } from "./api.ts"
import { checkResponse, templateOf } from "./openapi.ts"

/** GET (or another method without a body) of `path`; the answer must match openapi.json for its status. */
export const getChecked = (url: string, path: string, options: { token?: string | null; method?: string } = {}) =>
  Effect.promise(async () => {
    const token = options.token === undefined ? TEST_ADMIN_TOKEN : options.token
    const res = await fetch(`${url}${path}`, { method: options.method ?? "GET", headers: token === null ? {} : { authorization: `Bearer ${token}` } })
    const body = (await res.json()) as ApiBody
    checkResponse(templateOf(path), "GET", res.status, body)
    return { status: res.status, body }
  })
