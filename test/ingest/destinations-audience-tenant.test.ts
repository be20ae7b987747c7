// A destination subscribed to an audience its tenant does not have (another tenant's, or an id nobody has) is refused
// when cdp serve starts and by the cdp export commands, not at its first run. Found probing cdp serve: acme's
// destination naming globex's audience started without a word, every run then failing "no audience ... in tenant
// acme". The refusal is the one for an unknown id, so it does not tell whether the other tenant's audience exists.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { AudienceNotFound, createAudience, editAudience } from "../../identity/audiences/index.ts"
import { runCdp, startServe } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { withConsent } from "../consent/support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => {
  delete process.env["CDP_DESTINATIONS"]
  removeDir(dir)
})

const condition = { trait: "plan", equals: "pro" }
const destinations = (...audiences: ReadonlyArray<string>) =>
  JSON.stringify({ acme: audiences.map((audience, i) => ({ name: `lake${i}`, type: "ndjson", purpose: "Analytics", audience })) })

describe("a destination's audience", () => {
  it("of another tenant is refused at start as an unknown one; its own, even deleted, starts", async () => {
    const ids = await withConsent(dir, Effect.gen(function* () {
      const globex = yield* createAudience("globex", { name: "G", purpose: "Analytics", condition }, "test")
      const own = yield* createAudience("acme", { name: "A", purpose: "Analytics", condition }, "test")
      const gone = yield* createAudience("acme", { name: "D", purpose: "Analytics", condition }, "test")
      yield* editAudience("acme", gone.id, { delete: true }, "test")
      return { globex: globex.id, own: own.id, gone: gone.id }
    }))
    const unknown = (id: string) => new AudienceNotFound({ tenant: "acme", id }).message

    process.env["CDP_DESTINATIONS"] = destinations(ids.own, ids.globex)
    const refused = await startServe(["--data-dir", dir]).then(async (s) => `started: ${await s.stop()}`, (e: Error) => e.message)
    expect(refused).toContain("exited with 1")
    expect(refused).toContain(`destination "lake1" of tenant acme: ${unknown(ids.globex)}`)
    expect(refused).not.toContain("globex")
    const status = runCdp(["export", "status", "--tenant", "acme", "--data-dir", dir])
    expect(status.status).toBe(1)
    expect(status.stderr.trim().split("\n")).toEqual([expect.stringContaining(`destination "lake1" of tenant acme: ${unknown(ids.globex)}`)])

    process.env["CDP_DESTINATIONS"] = destinations(ids.own, ids.gone)
    const serve = await startServe(["--data-dir", dir])
    expect(await serve.stop()).toBe(0)
  }, 120_000)
})
