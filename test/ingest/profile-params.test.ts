// The profile routes refuse a query parameter they do not take (a misspelt ?limt=5, or ?limit= on the profile itself,
// which only its pages take), 400 unknown_parameter naming it, rather than answering as if it were not there.
import { Effect, type Scope } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import type { Collector } from "../../ingest/collector.ts"
import { callApi, TEST_ADMIN_TOKEN, withApi as withCollector } from "../support/api.ts"
import { checkResponse, templateOf } from "../support/openapi.ts"
import { freshDir, type PipelineServices, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const withApi = <A, E>(program: (url: string) => Effect.Effect<A, E, PipelineServices | Collector | Scope.Scope>) => withCollector(dir, program)

const PROFILE = "/v1/profiles/user_id%3Aann"

describe("the profile routes' query parameters", () => {
  it("an unknown one is refused with 400 naming it and the ones the route takes; the known ones still pass", () =>
    withApi((url) => Effect.gen(function* () {
      const cases: ReadonlyArray<[string, string, string]> = [
        [`${PROFILE}?tenant=acme&limt=5`, "limt", "?events=, ?purpose="],
        [`${PROFILE}?tenant=acme&limit=5`, "limit", "?events=, ?purpose="],
        [`${PROFILE}/events?tenant=acme&evnt=x`, "evnt", "?limit=, ?cursor=, ?since=, ?until=, ?channel=, ?event=, ?purpose="],
        [`${PROFILE}/identifiers?tenant=acme&since=2024-01-01`, "since", "?limit=, ?cursor=, ?purpose="],
      ]
      for (const [path, name, takes] of cases) {
        const res = yield* callApi(url, "GET", path, TEST_ADMIN_TOKEN)
        checkResponse(templateOf(path), "GET", res.status, res.body)
        expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(400)
        expect(res.body).toMatchObject({ rule: "unknown_parameter", field: name, error: `?${name}= is not taken here; this route takes ${takes}` })
      }
      for (const path of [`${PROFILE}?tenant=acme&events=1&purpose=Analytics`, `${PROFILE}/events?tenant=acme&limit=5&since=2024-01-01&channel=web&event=a`,
        `${PROFILE}/identifiers?tenant=acme&limit=5&purpose=Analytics`]) {
        expect((yield* callApi(url, "GET", path, TEST_ADMIN_TOKEN)).status, path).toBe(404)
      }
    })), 120_000)
})
