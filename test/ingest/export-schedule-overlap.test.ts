// The schedule of cdp serve's export syncs (CDP_EXPORT_EVERY: keepExportsCurrent) and the API's runs take turns per
// destination, as two API runs do: a run asked while the schedule is sending is refused 409 export_running, and a tick
// while an API run is sending is skipped, so the same batch is never sent twice at once. Probing cdp serve with
// CDP_EXPORT_EVERY=2 and a webhook receiver answering after 3 s: POST /v1/exports/{d}/run while the schedule's request
// was in flight sent the same batch (same Idempotency-Key) a second time 0.3 s later.
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { keepExportsCurrent, parseDestinations } from "../../ingest/destinations/index.ts"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { basicAuth, freshDir, removeDir, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("the export schedule and the API's runs", () => {
  it("take turns per destination: a run while the schedule sends is 409, and no batch is in flight twice", async () => {
    const batches: Array<string> = []
    let inFlight = 0
    let most = 0
    // A receiver that answers after 1.5 s: the schedule's first request is still in flight when the run asks.
    const slow = createServer((req, res) => {
      batches.push(String(req.headers["idempotency-key"]))
      most = Math.max(most, ++inFlight)
      req.resume()
      req.on("end", () => setTimeout(() => {
        inFlight--
        res.writeHead(200, { "content-type": "application/json" }).end("{}")
      }, 1500))
    })
    await new Promise<void>((resolve) => slow.listen(0, "127.0.0.1", resolve))
    const destinations = parseDestinations(JSON.stringify({ acme: [{
      name: "slow", type: "webhook", purpose: "EmailMarketing", url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/hook`, secret: "whsec_api_test_0123456789",
    }] }))
    try {
      await withApi(dir, (url) => Effect.gen(function* () {
        const sent = yield* Effect.promise(() => fetch(`${url}/v1/identify?tenant=acme`, {
          method: "POST", headers: { authorization: basicAuth(WRITE_KEY), "content-type": "application/json" },
          body: JSON.stringify({ userId: "s1", messageId: "m-s1", traits: { email: "s1@acme.example" } }),
        }).then((r) => r.status))
        expect(sent).toBe(200)
        yield* Effect.forkScoped(keepExportsCurrent(destinations, 200))
        for (let i = 0; i < 200 && batches.length === 0; i++) yield* Effect.sleep("50 millis")
        expect(batches).toHaveLength(1)
        const run = yield* callApi(url, "POST", "/v1/exports/slow/run?tenant=acme", TEST_ADMIN_TOKEN, {})
        checkResponse("/v1/exports/{destination}/run", "POST", run.status, run.body)
        expect(run, JSON.stringify(run.body)).toMatchObject({ status: 409, body: { rule: "export_running", field: "destination" } })
        yield* Effect.sleep("2500 millis")
        expect(most).toBe(1)
        expect(new Set(batches).size).toBe(batches.length)
      }), { destinations })
    } finally {
      slow.closeAllConnections()
      slow.close()
    }
  }, 120_000)
})
