// A query parameter that takes one value, given twice (?limit=5&limit=5000), on a real collector (embedded engine):
// URLSearchParams.get would silently take the first, so every paged list (ingest/pages.ts) and the profile routes
// refuse it with 400 naming the parameter.
import { Effect, type Scope } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import type { Collector } from "../../ingest/collector.ts"
import { parseDestinations } from "../../ingest/destinations/index.ts"
import { type ApiBody, callApi, TEST_ADMIN_TOKEN, withApi as withCollector } from "../support/api.ts"
import { checkResponse, templateOf } from "../support/openapi.ts"
import { freshDir, type PipelineServices, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const withApi = <A, E>(program: (url: string) => Effect.Effect<A, E, PipelineServices | Collector | Scope.Scope>) =>
  withCollector(dir, program, { destinations: parseDestinations(JSON.stringify({ acme: [{ name: "lake", type: "ndjson", purpose: "EmailMarketing" }] })) })

const refusedRepeated = (res: { status: number; body: ApiBody }, name: string, path: string) => {
  expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(400)
  expect(res.body, path).toMatchObject({ success: false, rule: "repeated_parameter", field: name })
  expect(res.body.error, path).toBe(`?${name}= is given 2 times: give it once`)
}

/** The lists paged by ingest/pages.ts. */
const LISTS = ["/v1/audiences?tenant=acme", "/v1/tokens?tenant=acme", "/v1/dsr?tenant=acme", "/v1/exports/lake/history?tenant=acme", "/v1/identity/suggestions?tenant=acme"]

const PROFILE = "/v1/profiles/user_id%3Aann"

describe("a repeated query parameter", () => {
  it("is refused with 400 naming it on every paged list, whichever value comes first", () =>
    withApi((url) => Effect.gen(function* () {
      for (const list of LISTS) {
        // Each list takes both values alone: only their repetition is refused.
        expect((yield* callApi(url, "GET", `${list}&limit=5`, TEST_ADMIN_TOKEN)).status, list).toBe(200)
        for (const query of ["&limit=5&limit=5000", "&limit=5000&limit=5", "&limit=5&limit=5", "&cursor=&cursor=x"]) {
          const name = query.startsWith("&limit") ? "limit" : "cursor"
          refusedRepeated(yield* callApi(url, "GET", `${list}${query}`, TEST_ADMIN_TOKEN), name, `${list}${query}`)
        }
      }
    })), 120_000)

  it("is refused with 400 naming it on the profile routes (openapi.json describes the answer)", () =>
    withApi((url) => Effect.gen(function* () {
      const cases: ReadonlyArray<[string, string]> = [
        [`${PROFILE}?tenant=acme&events=1&events=1000`, "events"],
        [`${PROFILE}?tenant=acme&purpose=Personalization&purpose=Analytics`, "purpose"],
        [`${PROFILE}/events?tenant=acme&limit=5&limit=1000`, "limit"],
        [`${PROFILE}/events?tenant=acme&since=2024-01-01&since=2025-01-01`, "since"],
        [`${PROFILE}/events?tenant=acme&until=2024-01-01&until=2025-01-01`, "until"],
        [`${PROFILE}/events?tenant=acme&cursor=a&cursor=b`, "cursor"],
        [`${PROFILE}/identifiers?tenant=acme&limit=5&limit=1000`, "limit"],
        [`${PROFILE}/identifiers?tenant=acme&cursor=a&cursor=b`, "cursor"],
      ]
      for (const [path, name] of cases) {
        const res = yield* callApi(url, "GET", path, TEST_ADMIN_TOKEN)
        checkResponse(templateOf(path), "GET", res.status, res.body)
        refusedRepeated(res, name, path)
      }
      // Filters that may repeat still do.
      const filters = yield* callApi(url, "GET", `${PROFILE}/events?tenant=acme&channel=web&channel=email&event=a&event=b`, TEST_ADMIN_TOKEN)
      expect(filters.status, JSON.stringify(filters.body)).toBe(404)
    })), 120_000)
})
