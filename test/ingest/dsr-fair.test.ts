// Data-subject requests of one tenant cannot hold up another's. Found probing cdp serve: 200 access requests of
// tenant acme posted at once all ran together, and one request of globex posted after them answered in 785 s. Nor can
// many tenants together run more than the server's limit at once.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { MAX_RUNNING_DSR } from "../../ingest/dsr-route.ts"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const access = (url: string, tenant: string, i: number) =>
  callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN, { type: "access", identifier: `email:person${i}@${tenant}.example`, tenant })

describe("data-subject requests at once", () => {
  it("a tenant's requests past its running limit are refused 429 naming the limit, recorded nowhere, while another tenant's run", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const [acme, globex] = yield* Effect.all([
        Effect.all(Array.from({ length: 8 }, (_, i) => access(url, "acme", i)), { concurrency: "unbounded" }),
        Effect.sleep("50 millis").pipe(Effect.andThen(access(url, "globex", 0))),
      ], { concurrency: "unbounded" })
      const busy = acme.filter((r) => r.status === 429)
      expect(acme.filter((r) => r.status === 201).length).toBeGreaterThanOrEqual(2)
      expect(busy.length).toBeGreaterThanOrEqual(1)
      expect(busy[0]!.body).toMatchObject({ success: false, rule: "dsr_busy" })
      expect(String(busy[0]!.body["error"])).toContain("tenant acme already has 2 data-subject requests running")
      expect(globex).toMatchObject({ status: 201, body: { request: { tenant: "globex", status: "completed" } } })
      // A refused request was never received: the list holds the ones that ran.
      const listed = yield* callApi(url, "GET", "/v1/dsr?tenant=acme", TEST_ADMIN_TOKEN)
      expect(listed.body["requests"]).toHaveLength(acme.filter((r) => r.status === 201).length)
    })), 120_000)

  it("requests of all tenants past the server's running limit are refused 429 naming it, recorded nowhere", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const tenants = Array.from({ length: 6 }, (_, t) => `t${t}`)
      const answers = yield* Effect.all(tenants.flatMap((tenant) => [0, 1].map((i) => access(url, tenant, i))), { concurrency: "unbounded" })
      const busy = answers.filter((r) => r.status === 429)
      expect(answers.filter((r) => r.status === 201).length).toBeGreaterThanOrEqual(MAX_RUNNING_DSR)
      expect(busy.length, JSON.stringify(answers.map((r) => r.status))).toBeGreaterThanOrEqual(1)
      expect(busy[0]!.body).toMatchObject({ success: false, rule: "dsr_busy" })
      expect(String(busy[0]!.body["error"])).toContain(`this server already runs ${MAX_RUNNING_DSR} data-subject requests of all tenants`)
      expect(busy[0]!.headers["retry-after"]).toBe("5")
      // Turns are given back: a refused tenant's next request runs.
      const refused = tenants[answers.findIndex((r) => r.status === 429) >> 1]!
      expect((yield* access(url, refused, 9)).status).toBe(201)
    })), 120_000)
})
