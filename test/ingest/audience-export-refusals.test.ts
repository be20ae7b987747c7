// A client generated from ingest/openapi.json is told, per operation, each refusal code the operation answers. Probing
// cdp serve found the audience and export operations that take a body answering codes their own description did not
// name: bad_body, the JSON rules (duplicate_key, too_deep, lone_surrogate, number_out_of_range, integer_too_large,
// number_too_precise), conflicting_tenant; and a dry run's bad_limit. Each hostile body is sent to each operation of a
// real collector, and every code answered must be named on that operation's response of that status (or, for the
// codes of any route, on the Error schema).
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { parseDestinations } from "../../ingest/destinations/index.ts"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checkResponse, OPENAPI } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const DESTINATIONS = parseDestinations(JSON.stringify({ acme: [{ name: "lake", type: "ndjson", purpose: "Analytics" }] }))

/** [method, path after /v1, its template] of every audience and export operation that takes a body. */
const OPERATIONS = [
  ["POST", "/audiences", "/v1/audiences"],
  ["PATCH", "/audiences/aud_nothere", "/v1/audiences/{id}"],
  ["DELETE", "/audiences/aud_nothere", "/v1/audiences/{id}"],
  ["POST", "/audiences/preview", "/v1/audiences/preview"],
  ["POST", "/exports/run", "/v1/exports/run"],
  ["POST", "/exports/lake/run", "/v1/exports/{destination}/run"],
  ["POST", "/exports/lake/dry-run", "/v1/exports/{destination}/dry-run"],
  ["POST", "/exports/lake/replay", "/v1/exports/{destination}/replay"],
] as const

const BODIES = [
  "{not json", "[]", '{"a": 1, "a": 2}', `{"x": ${"[".repeat(200)}${"]".repeat(200)}}`, '{"a": "\\ud800"}', '{"a": 1e400}',
  '{"a": 12345678901234567890}', '{"a": 0.1234567890123456789}', '{"tenant": "globex"}', '{"tenant": ""}', '{"zzz": 1}',
  '{"full": "yes"}', '{"limit": 0}', "{}", `{"note": "${"n".repeat(300_000)}"}`,
]

/** [method, path after /v1, its template] of every audience and export operation that takes only a query. */
const READS = [
  ["GET", "/audiences", "/v1/audiences"], ["GET", "/audiences/aud_nothere", "/v1/audiences/{id}"], ["DELETE", "/audiences/aud_nothere", "/v1/audiences/{id}"],
  ["GET", "/audiences/aud_nothere/history", "/v1/audiences/{id}/history"], ["GET", "/audiences/aud_nothere/members", "/v1/audiences/{id}/members"],
  ["GET", "/audiences/aud_nothere/changes", "/v1/audiences/{id}/changes"], ["GET", "/exports", "/v1/exports"], ["GET", "/exports/lake", "/v1/exports/{destination}"],
  ["GET", "/exports/lake/status", "/v1/exports/{destination}/status"], ["GET", "/exports/lake/history", "/v1/exports/{destination}/history"],
] as const

const QUERIES = ["limit=0", "limit=abc", "cursor=x", "after=x", "tenant=", "tenant=a&tenant=b", "limit=1&limit=2", "cursor=a&cursor=b", "after=a&after=b", "bogus=1", "tenant=globex"]

const anyRoute = (OPENAPI as unknown as { components: { schemas: { Error: { properties: { rule: { description: string } } } } } })
  .components.schemas.Error.properties.rule.description

describe("the audience and export operations that take a body", () => {
  it("name on each operation every refusal code it answers to a hostile body", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const unnamed: Array<string> = []
      const answered = new Set<string>()
      for (const [method, path, template] of OPERATIONS) {
        for (const body of BODIES) {
          // Under /v1/tenants/acme the body's "globex" conflicts with the path's tenant.
          const res = yield* callApi(url, method, `/v1/tenants/acme${path}`, TEST_ADMIN_TOKEN, body)
          checkResponse(template, method, res.status, res.body)
          if (res.status < 400) continue
          const rule = res.body["rule"] as string
          answered.add(rule)
          const op = OPENAPI.paths[template]![method.toLowerCase()] as unknown as { responses: Record<string, { description: string }> }
          const described = op.responses[String(res.status)]!.description
          if (!described.includes(`\`${rule}\``) && !anyRoute.includes(`\`${rule}\``)) unnamed.push(`${method} ${template} ${res.status} ${rule} (body ${body.slice(0, 30)})`)
        }
      }
      // The bodies reach the codes this test is about (so that it cannot pass by answering none of them).
      for (const rule of ["body_too_large", "bad_body", "duplicate_key", "too_deep", "lone_surrogate", "number_out_of_range", "integer_too_large", "number_too_precise", "conflicting_tenant", "bad_limit", "bad_full"]) {
        expect(answered, rule).toContain(rule)
      }
      expect(unnamed.join("\n")).toBe("")
    }), { destinations: DESTINATIONS }), 120_000)

  it("name on each operation that reads every refusal code it answers to a hostile query, for any token", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const bound = (yield* callApi(url, "POST", "/v1/tokens", TEST_ADMIN_TOKEN, { role: "marketer", tenant: "acme" })).body["token"] as string
      const unnamed: Array<string> = []
      const answered = new Set<string>()
      for (const [method, path, template] of READS) {
        for (const query of QUERIES) {
          // The admin token under /v1/tenants/acme (?tenant=globex conflicts with it), and one bound to acme.
          for (const [token, full] of [[TEST_ADMIN_TOKEN, `/v1/tenants/acme${path}?${query}`], [TEST_ADMIN_TOKEN, `/v1${path}?${query}`], [bound, `/v1${path}?${query}`]] as const) {
            const res = yield* callApi(url, method, full, token)
            checkResponse(template, method, res.status, res.body)
            if (res.status < 400) continue
            const rule = res.body["rule"] as string
            answered.add(rule)
            const op = OPENAPI.paths[template]![method.toLowerCase()] as unknown as { responses: Record<string, { description: string }> }
            const described = op.responses[String(res.status)]!.description
            if (!described.includes(`\`${rule}\``) && !anyRoute.includes(`\`${rule}\``)) unnamed.push(`${method} ${template} ${res.status} ${rule} (${full})`)
          }
        }
      }
      for (const rule of ["bad_limit", "bad_cursor", "bad_tenant", "conflicting_tenant", "tenant_forbidden", "repeated_parameter", "unknown_parameter", "audience_not_found"]) {
        expect(answered, rule).toContain(rule)
      }
      expect(unnamed.join("\n")).toBe("")
    }), { destinations: DESTINATIONS }), 120_000)
})
