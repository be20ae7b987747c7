// A dry run (POST /v1/exports/{destination}/dry-run) reads and builds every candidate profile of its destination
// (about 60 MB at 100,000 profiles), so one tenant's dry runs take turns, as its previews do: one at a time, another
// answered 429 `dry_run_busy` with Retry-After at once; another tenant's is not held. Seen probing cdp serve: ten dry
// runs at once of one tenant's 100,000 profiles (a tenant admin's exports:write) took the server from 1.1 to 1.7 GB,
// each about 60 MB more, nothing bounding how many.
import { Effect, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { parseDestinations } from "../../ingest/destinations/index.ts"
import { backgroundReads, Warehouse } from "../../warehouse/warehouse.ts"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const DESTINATIONS = parseDestinations(JSON.stringify({
  acme: [{ name: "lake", type: "ndjson", purpose: "EmailMarketing" }, { name: "hook", type: "webhook", purpose: "EmailMarketing", url: "https://hooks.example/in", secret: "whsec_0123456789abcdef" }],
  globex: [{ name: "lake", type: "ndjson", purpose: "EmailMarketing" }],
}))

const dryRun = (url: string, tenant: string, destination: string) =>
  Effect.map(callApi(url, "POST", `/v1/exports/${destination}/dry-run?tenant=${tenant}`, TEST_ADMIN_TOKEN, { full: true }), (res) => {
    checkResponse("/v1/exports/{destination}/dry-run", "POST", res.status, res.body)
    return res
  })

describe("a tenant's export dry runs", () => {
  it("take turns: a second at once is 429 dry_run_busy with Retry-After, another tenant's runs, and the next one after is taken", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const w = yield* Warehouse
      // The dry run's reads go to the background connection (one statement at a time): held 3 s here, so the first
      // dry run is still running when the others come.
      const slow = yield* Effect.forkChild(backgroundReads(w.query("SELECT sleep(3) AS s")))
      yield* Effect.sleep("200 millis")
      const first = yield* Effect.forkChild(dryRun(url, "acme", "lake"))
      yield* Effect.sleep("300 millis")
      const second = yield* dryRun(url, "acme", "hook")
      const other = yield* Effect.forkChild(dryRun(url, "globex", "lake"))
      expect(second.status, JSON.stringify(second.body)).toBe(429)
      expect(second.body).toMatchObject({ success: false, rule: "dry_run_busy" })
      expect(second.headers["retry-after"]).toBe("5")
      expect((yield* Fiber.join(first)).status).toBe(200)
      expect((yield* Fiber.join(other)).status).toBe(200)
      yield* Fiber.join(slow)
      // Its turn given back: the next one is taken.
      expect((yield* dryRun(url, "acme", "hook")).status).toBe(200)
    }), { destinations: DESTINATIONS }), 60_000)
})
