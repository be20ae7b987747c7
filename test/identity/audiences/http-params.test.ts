// The audience routes (ingest/audience-route.ts) refuse a query parameter they do not take, 400 unknown_parameter
// naming it and what the route takes, as the other API routes do. Probing cdp serve found GET /v1/audiences?limt=2
// and /history?bogus=1 answered as if nothing had been sent, and /history?limit=0 refused "?limit= must be a whole
// number from 1 to 10000" though the history takes no limit (any other value was ignored).
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { callChecked as call } from "../../support/openapi.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"
import { withConsent } from "../../consent/support.ts"
import { serveAudiences } from "./support.ts"

let dir: string
beforeAll(() => { dir = freshDir() })
afterAll(() => removeDir(dir))

const serve = serveAudiences({ tokenId: "admin-token", tenant: undefined })

describe("the audience routes' query parameters", () => {
  it("one a route does not take is refused 400 naming it and what the route takes; those it takes pass", () =>
    withConsent(dir, Effect.gen(function* () {
      const base = yield* serve
      const made = yield* call(base, "/v1/audiences", "POST", "/v1/audiences",
        { tenant: "acme", name: "Pro", purpose: "EmailMarketing", condition: { trait: "plan", equals: "pro" } })
      expect(made.status).toBe(201)
      const id = made.body["audience"].id as string
      const cases = [
        ["GET", "/v1/audiences", "/v1/audiences?tenant=acme&limt=2", "limt", "?limit=, ?cursor="],
        ["POST", "/v1/audiences", "/v1/audiences?tenant=acme&name=x", "name", "?tenant="],
        ["POST", "/v1/audiences/preview", "/v1/audiences/preview?tenant=acme&sample=5", "sample", "?tenant="],
        ["GET", "/v1/audiences/{id}", `/v1/audiences/${id}?tenant=acme&version=1`, "version", "?tenant="],
        ["DELETE", "/v1/audiences/{id}", `/v1/audiences/${id}?tenant=acme&force=1`, "force", "?tenant="],
        ["GET", "/v1/audiences/{id}/history", `/v1/audiences/${id}/history?tenant=acme&bogus=1`, "bogus", "?limit=, ?cursor="],
        ["GET", "/v1/audiences/{id}/members", `/v1/audiences/${id}/members?tenant=acme&cursor=x`, "cursor", "?after=, ?limit="],
        ["GET", "/v1/audiences/{id}/changes", `/v1/audiences/${id}/changes?tenant=acme&after=x`, "after", "?cursor=, ?limit="],
      ] as const
      for (const [method, template, path, name, takes] of cases) {
        const res = yield* call(base, template, method, path, method === "POST" ? { tenant: "acme", name: "n", purpose: "EmailMarketing", condition: { trait: "plan", equals: "x" } } : undefined)
        expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBe(400)
        expect(res.body, path).toMatchObject({ rule: "unknown_parameter", field: name })
        expect(res.body["error"] as string, path).toContain(takes)
      }
      for (const path of [`/v1/audiences?tenant=acme&limit=1&cursor=`, `/v1/audiences/${id}/history?tenant=acme`,
        `/v1/audiences/${id}/members?tenant=acme&limit=5&after=`, `/v1/audiences/${id}/changes?tenant=acme&limit=5&cursor=`]) {
        expect((yield* call(base, path.split("?")[0]!.replace(id, "{id}"), "GET", path)).status, path).toBe(200)
      }
      // Nothing of the refused requests was saved.
      expect((yield* call(base, "/v1/audiences/{id}", "GET", `/v1/audiences/${id}?tenant=acme`)).body["audience"]).toMatchObject({ version: 1 })
    })), 60_000)

  // Probing found the 404 quoting the whole id: 20,000 characters sent as a preview's "id" came back in the error.
  it("an unknown audience id is quoted cut to 80 characters, in the path and in a preview's body", () =>
    withConsent(dir, Effect.gen(function* () {
      const base = yield* serve
      const long = `aud_${"a".repeat(20_000)}`
      for (const [template, method, path, body] of [
        ["/v1/audiences/{id}", "GET", `/v1/audiences/${long.slice(0, 5000)}?tenant=acme`, undefined],
        ["/v1/audiences/{id}/members", "GET", `/v1/audiences/${long.slice(0, 5000)}/members?tenant=acme`, undefined],
        ["/v1/audiences/preview", "POST", "/v1/audiences/preview", { tenant: "acme", id: long }],
      ] as const) {
        const res = yield* call(base, template, method, path, body)
        expect(res, template).toMatchObject({ status: 404, body: { rule: "audience_not_found" } })
        expect(res.body["error"], template).toBe(`no audience "${"aud_".padEnd(80, "a")}…" in tenant "acme" (cdp audience list shows them)`)
      }
      expect((yield* call(base, "/v1/audiences/{id}", "GET", "/v1/audiences/aud_nothere?tenant=acme")).body["error"])
        .toBe('no audience "aud_nothere" in tenant "acme" (cdp audience list shows them)')
    })), 60_000)

  // Probing found a 10,000-character purpose of a preview quoted back whole.
  it("an unknown purpose of a preview is quoted cut to 80 characters", () =>
    withConsent(dir, Effect.gen(function* () {
      const base = yield* serve
      const res = yield* call(base, "/v1/audiences/preview", "POST", "/v1/audiences/preview",
        { tenant: "acme", purpose: "P".repeat(10_000), condition: { trait: "plan", exists: true } })
      expect(res).toMatchObject({ status: 400, body: { rule: "bad_purpose", field: "/purpose" } })
      expect(res.body["error"]).toBe(`"${"P".repeat(80)}…" is not a purpose of tenant "acme" (purposes: Analytics, Advertising, Personalization, CrmSync, SocialListening, EmailMarketing)`)
    })), 60_000)
})
