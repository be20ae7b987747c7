// What a destination answers goes to the delivery log (export_deliveries), which a marketer reads (exports:read), and
// `cdp export status` shows the destination's URL cut and its credentials as ***: so the words kept of an answer must
// not hand them back either. Seen probing cdp serve: a webhook receiver answering 400 "bad request; ... url=/wh/
// HOOKPATHSECRET" (an incoming hook's path is its credential) put the path in GET /v1/exports/echohook/history's
// "detail" for a marketer token; a HubSpot (or a proxy before it) quoting the token it refused would do the same.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type DestinationConfig, parseDestinations, syncDestination } from "../../ingest/destinations/index.ts"
import { deliveryHistory } from "../../warehouse/exports.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { prefs, submit, web, withConsent } from "../consent/support.ts"
import { listen } from "../support/local-server.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a destination's answer in the delivery log", () => {
  it("holds none of the destination's credentials the receiver echoed back: token, URL path and query", async () => {
    // Answers 400 quoting the request's path and query and its Authorization header, in words (a webhook) and in
    // HubSpot's error JSON.
    const echo = await listen((req, res) => {
      req.resume()
      req.on("end", () => {
        const said = `bad request: you sent ${req.headers.authorization ?? "no authorization"} to ${req.url}`
        if (req.url!.startsWith("/hs/")) res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ category: "VALIDATION_ERROR", message: said }))
        else res.writeHead(400, { "content-type": "text/plain" }).end(said)
      })
    })
    try {
      const [hook, crm] = parseDestinations(JSON.stringify({ acme: [
        { name: "hook", type: "webhook", purpose: "CrmSync", url: `${echo.url}/wh/T0HOOKPATHSECRET?key=QUERYSECRET9`, secret: "whsec_0123456789abcdef", maxAttempts: 1 },
        { name: "crm", type: "hubspot", purpose: "CrmSync", url: `${echo.url}/hs/PROXYKEYSECRET`, token: "pat-na1-TOKENSECRET", maxAttempts: 1 },
      ] })) as [DestinationConfig, DestinationConfig]
      const details = await withConsent(dir, Effect.gen(function* () {
        yield* submit([web("m-1", 1, { type: "identify", userId: "u1", traits: { plan: "pro" }, context: prefs({ CrmSync: true }) })])
        for (const d of [hook, crm]) expect((yield* syncDestination(d)).deadLettered, d.name).toBe(1)
        return [...(yield* deliveryHistory("acme", "hook", 10)), ...(yield* deliveryHistory("acme", "crm", 10))].map((d) => d.detail)
      }))
      expect(details.length).toBe(2)
      for (const detail of details) {
        expect(detail).toMatch(/^HTTP 400: .*bad request: you sent/)
        for (const secret of ["T0HOOKPATHSECRET", "QUERYSECRET9", "PROXYKEYSECRET", "TOKENSECRET"]) expect(detail, secret).not.toContain(secret)
      }
      // What was cut says so.
      expect(details.join(" ")).toContain("***")
    } finally {
      echo.server.close()
    }
  }, 60_000)
})
