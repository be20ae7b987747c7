// A destination's answer cannot send what is exported (profiles, the signature, a CRM token) to another host: a
// redirect is a failed request, never followed.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { type DestinationConfig, parseDestinations, syncDestination } from "../../ingest/destinations/index.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { prefs, submit, web, withConsent } from "../consent/support.ts"
import { listen } from "../support/local-server.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("a destination answering with a redirect", () => {
  it("is a failed request: the records are dead-lettered, and the host it points to gets nothing", async () => {
    let elsewhere = 0
    const target = await listen((_req, res) => { elsewhere++; res.writeHead(200).end("{}") })
    const hook = await listen((_req, res) => { res.writeHead(307, { location: `${target.url}/stolen` }).end() })
    try {
      const config: DestinationConfig = parseDestinations(JSON.stringify({ acme: [{
        name: "hook", type: "webhook", purpose: "CrmSync", url: `${hook.url}/in`, secret: "0123456789abcdef-secret", maxAttempts: 1,
      }] }))[0]!
      const r = await withConsent(dir, Effect.gen(function* () {
        yield* submit([web("m-1", 1, { type: "identify", userId: "u1", traits: { email: "ann@mail.example" }, context: prefs({ CrmSync: true }) })])
        return yield* syncDestination(config)
      }))
      expect([r.upserted, r.deadLettered]).toEqual([0, 1])
      expect(elsewhere).toBe(0)
    } finally {
      hook.server.close()
      target.server.close()
    }
  }, 60_000)
})
