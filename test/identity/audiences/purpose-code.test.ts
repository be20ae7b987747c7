// A purpose the tenant does not have is one mistake, answered alike wherever it is written: the audience routes
// (create, edit, preview, and a condition's consent leaf in each) refuse it as the profile route does, with rule
// `bad_purpose`, `field` pointing at it, and one message; openapi.json names the code on each of these operations.
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { callChecked as call, OPENAPI } from "../../support/openapi.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"
import { withConsent } from "../../consent/support.ts"
import { serveAudiences } from "./support.ts"

let dir: string
beforeAll(() => { dir = freshDir() })
afterAll(() => removeDir(dir))

const PURPOSES = "(purposes: Analytics, Advertising, Personalization, CrmSync, SocialListening, EmailMarketing)"
const ANYONE = { trait: "plan", exists: true }

describe("an unknown purpose", () => {
  it("is bad_purpose naming the field, with one message, on create, edit and preview, as a purpose or a consent leaf", () =>
    withConsent(dir, Effect.gen(function* () {
      const base = yield* serveAudiences({ tokenId: "admin-token", tenant: undefined })
      const made = yield* call(base, "/v1/audiences", "POST", "/v1/audiences", { tenant: "acme", name: "Anyone", purpose: "Analytics", condition: ANYONE })
      expect(made.status).toBe(201)
      const id = made.body["audience"].id as string
      const leaf = { and: [ANYONE, { consent: "Telepathy" }] }
      const wrong = '"Telepathy" is not a purpose of tenant "acme" ' + PURPOSES
      for (const [what, template, method, path, body, field] of [
        ["create: purpose", "/v1/audiences", "POST", "/v1/audiences", { tenant: "acme", name: "A", purpose: "Telepathy", condition: ANYONE }, "/purpose"],
        ["create: consent leaf", "/v1/audiences", "POST", "/v1/audiences", { tenant: "acme", name: "B", purpose: "Analytics", condition: leaf }, "/condition/and/1/consent"],
        ["edit: purpose", "/v1/audiences/{id}", "PATCH", `/v1/audiences/${id}`, { tenant: "acme", purpose: "Telepathy" }, "/purpose"],
        ["edit: consent leaf", "/v1/audiences/{id}", "PATCH", `/v1/audiences/${id}`, { tenant: "acme", condition: leaf }, "/condition/and/1/consent"],
        ["preview: purpose", "/v1/audiences/preview", "POST", "/v1/audiences/preview", { tenant: "acme", purpose: "Telepathy", condition: ANYONE }, "/purpose"],
        ["preview of a saved one: purpose", "/v1/audiences/preview", "POST", "/v1/audiences/preview", { tenant: "acme", id, purpose: "Telepathy" }, "/purpose"],
        ["preview: consent leaf", "/v1/audiences/preview", "POST", "/v1/audiences/preview", { tenant: "acme", purpose: "Analytics", condition: leaf }, "/condition/and/1/consent"],
      ] as const) {
        const res = yield* call(base, template, method, path, body)
        expect(res, what).toMatchObject({ status: 400, body: { rule: "bad_purpose", field, error: wrong } })
      }
      // A purpose that is no string is no purpose either, wherever it is sent.
      for (const [template, path, body] of [
        ["/v1/audiences", "/v1/audiences", { tenant: "acme", name: "C", purpose: 42, condition: ANYONE }],
        ["/v1/audiences/preview", "/v1/audiences/preview", { tenant: "acme", purpose: 42, condition: ANYONE }],
      ] as const) {
        const res = yield* call(base, template, "POST", path, body)
        expect(res, template).toMatchObject({ status: 400, body: { rule: "bad_purpose", field: "/purpose", error: `must be a purpose of tenant "acme" ${PURPOSES}` } })
      }
      // A purpose left out is a body without a field it needs, as any other.
      expect((yield* call(base, "/v1/audiences/preview", "POST", "/v1/audiences/preview", { tenant: "acme", condition: ANYONE })).body)
        .toMatchObject({ rule: "bad_audience", field: "/purpose" })
      // Nothing was saved by the refused edits.
      expect((yield* call(base, "/v1/audiences/{id}", "PATCH", `/v1/audiences/${id}`, { tenant: "acme", name: "Anyone at all" })).body["audience"].version).toBe(2)
    })), 60_000)

  it("is named on each operation that answers it in openapi.json", () => {
    for (const [path, method] of [["/v1/audiences", "post"], ["/v1/audiences/{id}", "patch"], ["/v1/audiences/preview", "post"], ["/v1/profiles/{identifier}", "get"]] as const) {
      const described = (OPENAPI.paths[path]?.[method] as { responses: Record<string, { description: string }> }).responses["400"]!.description
      expect(described, `${method} ${path}`).toContain("`bad_purpose`")
    }
  })
})
