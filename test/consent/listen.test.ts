import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { listenReport } from "../../sentiment/listen.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { prefs, submit, web, withConsent } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const tweet = (id: string, day: number, handle: string, followers: number) =>
  web(id, `2024-10-0${day}T10:00:00.000Z`, {
    channel: "social", source: "twitter", text: `the new jacket from the shop is great ${id}`, traits: { name: handle.toUpperCase() },
    identifiers: [{ kind: "twitter_handle", value: handle }], properties: { author_followers: followers, public_metrics: { like_count: 1 } },
  })

describe("the listening report and objections", () => {
  it("counts every public post but lists no author who objected, even for posts from before the objection", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* submit([tweet("t1", 1, "annx", 5000), tweet("t2", 2, "bobx", 10), tweet("t3", 2, "annx", 5000)])
      const before = yield* listenReport({ tenant: "acme", since: new Date("2024-10-01"), until: new Date("2024-10-08"), raiseAlerts: false, brand: ["shop"] })
      expect(before.topAuthors.byReach.map((a) => a.handle)).toEqual(["@annx", "@bobx"])
      // Ann links her handle to her account and objects to listening.
      yield* submit([web("no", "2024-10-03T10:00:00.000Z", { type: "identify", userId: "u1", traits: { twitter: "annx" }, context: prefs({ SocialListening: false }) })])
      const after = yield* listenReport({ tenant: "acme", since: new Date("2024-10-01"), until: new Date("2024-10-08"), raiseAlerts: false, brand: ["shop"] })
      expect(after.mentions.total).toBe(3)
      expect(after.topAuthors.byReach.map((a) => a.handle)).toEqual(["@bobx"])
      expect(after.topAuthors.byEngagement.map((a) => a.handle)).toEqual(["@bobx"])
      expect(JSON.stringify(after)).not.toMatch(/annx|ANNX/i)
    })))
})
