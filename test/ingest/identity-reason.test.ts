// An operator's reason for an identity decision is text people read later (in explanations and on terminals): it holds
// no control or invisible characters and is at most 1,000 characters. Found probing cdp serve: POST /v1/identity/split
// {"identifier":"email:ann2@x.example","reason":"x\u0000y\u001b[31mred\u202e","tenant":"acme"} answered 200 and stored
// the NUL, the escape sequence and the bidi override as sent; a reason of 60,000 characters was stored whole (a
// token's name, by the same rule, is refused past 200 characters or with a control character).
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("an identity decision's reason", () => {
  it("with a control or invisible character, or past 1,000 characters, is refused 400 naming it; others are taken", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const split = (reason: string) =>
        callApi(url, "POST", "/v1/identity/split", TEST_ADMIN_TOKEN, { identifier: "email:nobody@acme.example", reason, tenant: "acme" })
      for (const [reason, words] of [
        ["x\u0000y", "U+0000"], ["clear \u001b[2J", "U+001B"], ["evil\u202e", "U+202E"], ["r".repeat(1001), "at most 1,000 characters"],
      ] as const) {
        const r = yield* split(reason)
        expect(r.status, JSON.stringify(r.body)).toBe(400)
        expect(r.body).toMatchObject({ success: false, rule: "bad_body", field: "/reason" })
        expect(String(r.body["error"])).toContain(words)
        expect(String(r.body["error"]).length).toBeLessThan(400)
      }
      const separate = yield* callApi(url, "POST", "/v1/identity/separate", TEST_ADMIN_TOKEN,
        { a: "email:a@acme.example", b: "email:b@acme.example", reason: "bad\u0007", tenant: "acme" })
      expect(separate.body).toMatchObject({ rule: "bad_body", field: "/reason" })
      const accept = yield* callApi(url, "POST", "/v1/identity/suggestions/abc/accept", TEST_ADMIN_TOKEN, { reason: "bad\u0007", tenant: "acme" })
      expect(accept.body).toMatchObject({ rule: "bad_body", field: "/reason" })
      // Taken (then answered for the identifier nobody holds): words in any script, an emoji, a line break, a tab.
      for (const reason of ["same person: ticket #42", "同一人物 👩‍💻", "line one\nline two\tend", "r".repeat(1000)]) {
        const r = yield* split(reason)
        expect(r.status, `${JSON.stringify(reason).slice(0, 40)}: ${JSON.stringify(r.body)}`).toBe(404)
      }
    })), 60_000)
})
