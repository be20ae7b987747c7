// POST /v1/tokens/{id}/revoke with something that is no token id is answered as GET /v1/tokens/{id} answers it: 404
// token_not_found saying what a token id is. Probing cdp serve found `cdp token revoke "x'; DROP"` printed
// "no route POST /v1/tokens/x'%3B%20DROP/revoke; the token routes are ...", words about HTTP routes for a mistyped id.
// And `cdp token revoke ../../x` was told 'no token "..%2F..%2Fx"': the id as the URL carried it, not as it was typed.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("revoking by something that is no token id", () => {
  it("is 404 token_not_found naming what a token id is, as a GET of it is", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      for (const id of ["x'%3B%20DROP", "tok_", "cdp_abc", "%E2%80%8Btok_abcdef"]) {
        const path = `/v1/tokens/${id}/revoke`
        const res = yield* callApi(url, "POST", path, TEST_ADMIN_TOKEN, {})
        checkResponse("/v1/tokens/{id}/revoke", "POST", res.status, res.body)
        expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(404)
        expect(res.body, path).toMatchObject({ rule: "token_not_found", field: "/id" })
        expect(res.body.error as string, path).toContain("a token id is tok_ and 6-40 letters, digits, _ or -")
      }
      // The id is named as it was given, not as the URL carries it: `cdp token revoke ../../x` was told
      // 'no token "..%2F..%2Fx"'; invisible characters are written out.
      for (const [id, shown] of [["..%2F..%2Fx", '"../../x"'], ["caf%C3%A9", '"café"'], ["%E2%80%AEx%1B", '"\\u{202e}x\\u001b"'], ["%E0%A4", '"%E0%A4"']]) {
        const res = yield* callApi(url, "POST", `/v1/tokens/${id}/revoke`, TEST_ADMIN_TOKEN, {})
        expect(res.body.error as string, id).toContain(`no token ${shown}:`)
      }
      // A well-formed id nobody has is still told so.
      expect(yield* callApi(url, "POST", "/v1/tokens/tok_nothere123/revoke", TEST_ADMIN_TOKEN, {}))
        .toMatchObject({ status: 404, body: { rule: "token_not_found", error: "no token tok_nothere123 is known" } })
    })), 60_000)
})
