// HEAD is answered wherever GET is, with GET's status (the guard already reads HEAD as a read). Found probing cdp serve:
// HEAD /v1/consent/user_id:u2, /v1/dsr, /v1/tokens and /v1/identity/suggestions answered 405 "Allow: GET" (or
// "GET, POST"), while HEAD /v1/audit, /v1/operations and /v1/dead-letters answered 200.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const head = (url: string, path: string) =>
  Effect.promise(async () => {
    const res = await fetch(`${url}${path}`, { method: "HEAD", headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })
    return { status: res.status, body: await res.text() }
  })

/** Each path answers HEAD with GET's status and no body. */
const expectHeadAsGet = (url: string, paths: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    for (const path of paths) {
      const get = yield* callApi(url, "GET", path, TEST_ADMIN_TOKEN)
      const h = yield* head(url, path)
      expect(h.status, `HEAD ${path}`).toBe(get.status)
      expect(h.body, `HEAD ${path}`).toBe("")
    }
  })

describe("HEAD on the compliance and admin routes", () => {
  it("answers as GET does, without a body", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const dsr = yield* callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN, { type: "access", identifier: "email:ann@acme.example", tenant: "acme" })
      const paths = [
        "/v1/consent/email:nobody@acme.example?tenant=acme", "/v1/dsr?tenant=acme", `/v1/dsr/${dsr.body.request.id}`, "/v1/tokens",
        "/v1/tokens/tok_nothere123", "/v1/identity/suggestions?tenant=acme", "/v1/audit", "/v1/operations", "/v1/dead-letters",
      ]
      yield* expectHeadAsGet(url, paths)
    })), 60_000)
})

describe("HEAD on the audience, profile and export routes", () => {
  // Found probing cdp serve: HEAD /v1/audiences[/{id}[/history|/members|/changes]], /v1/profiles/{identifier}[/events|
  // /identifiers] and /v1/exports answered 405 "Allow: GET" where GET answered 200 (or 404).
  it("answers as GET does, without a body", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const send = yield* Effect.promise(() => fetch(`${url}/v1/identify`, {
        method: "POST", headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ userId: "ann", traits: { name: "Ann" } }),
      }).then((r) => r.status))
      expect(send).toBe(200)
      const audience = yield* callApi(url, "POST", "/v1/audiences", TEST_ADMIN_TOKEN, { name: "named", purpose: "Analytics", condition: { trait: "name", exists: true } })
      expect(audience.status).toBe(201)
      const id = audience.body.audience.id as string
      for (let i = 0; i < 200 && (yield* callApi(url, "GET", "/v1/profiles/user_id:ann", TEST_ADMIN_TOKEN)).status !== 200; i++) yield* Effect.sleep("50 millis")
      const paths = [
        "/v1/audiences", `/v1/audiences/${id}`, `/v1/audiences/${id}/history`, `/v1/audiences/${id}/members`, `/v1/audiences/${id}/changes`,
        "/v1/profiles/user_id:ann", "/v1/profiles/user_id:ann/events", "/v1/profiles/user_id:ann/identifiers", "/v1/profiles/user_id:nobody",
        "/v1/exports",
      ]
      yield* expectHeadAsGet(url, paths)
    })), 60_000)
})
