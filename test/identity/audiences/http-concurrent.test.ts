// Audience saves sent at the same moment through the API (ingest/audience-route.ts): each save reads the tenant's
// audiences (names, count, the latest version) and then writes, so two at once must not both pass the same check.
// Probing cdp serve found 6 creates of one name at once made 2 audiences of that name, and 10 edits at once of one
// audience stored versions 2, 2, 4, 4, 5, 5, 6, 6 (two saves read the same latest version).
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { freshDir, removeDir } from "../../support/pipeline.ts"
import { withConsent } from "../../consent/support.ts"
import { serveAudiences } from "./support.ts"

let dir: string
beforeAll(() => { dir = freshDir() })
afterAll(() => removeDir(dir))

const serve = serveAudiences

const send = (base: string, method: string, path: string, body?: unknown) =>
  fetch(`${base}${path}`, { method, ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }) })
    .then(async (res) => ({ status: res.status, body: (await res.json()) as Record<string, any> }))

/** Every request sent at once, the answers in order. */
const atOnce = <A>(requests: ReadonlyArray<() => Promise<A>>) => Effect.promise(() => Promise.all(requests.map((r) => r())))

describe("audience saves sent at once", () => {
  it("one name makes one audience, edits get versions 2, 3, ... once each, and the cap holds", () =>
    withConsent(dir, Effect.gen(function* () {
      const base = yield* serve({ tokenId: "admin-token", tenant: undefined }, 3)
      const condition = { trait: "plan", equals: "pro" }

      const creates = yield* atOnce(Array.from({ length: 6 }, () => () =>
        send(base, "POST", "/v1/audiences", { tenant: "race", name: "Same name", purpose: "EmailMarketing", condition })))
      expect(creates.map((c) => c.status).sort()).toEqual([201, 409, 409, 409, 409, 409])
      const listed = (yield* Effect.promise(() => send(base, "GET", "/v1/audiences?tenant=race"))).body["audiences"] as Array<{ id: string; name: string }>
      expect(listed.map((a) => a.name)).toEqual(["Same name"])
      const id = listed[0]!.id

      const edits = yield* atOnce(Array.from({ length: 8 }, (_, i) => () =>
        send(base, "PATCH", `/v1/audiences/${id}`, { tenant: "race", condition: { trait: "plan", in: ["pro", `v${i}`] }, note: `edit ${i}` })))
      expect(edits.map((e) => e.status)).toEqual(Array(8).fill(200))
      // Each answer is the version its own edit made, holding its own condition.
      edits.forEach((e, i) => expect(e.body["audience"].condition, `edit ${i}`).toEqual({ trait: "plan", in: ["pro", `v${i}`] }))
      const versions = (yield* Effect.promise(() => send(base, "GET", `/v1/audiences/${id}/history?tenant=race`))).body["versions"] as Array<{ version: number }>
      expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9])

      // The cap (3 here) is checked against what the others made, not what was there before they all started.
      const more = yield* atOnce(Array.from({ length: 5 }, (_, i) => () =>
        send(base, "POST", "/v1/audiences", { tenant: "race", name: `More ${i}`, purpose: "EmailMarketing", condition })))
      expect(more.filter((m) => m.status === 201)).toHaveLength(2)
      expect(more.filter((m) => m.status === 409)).toHaveLength(3)
    })), 60_000)
})
