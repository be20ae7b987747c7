// The consent stage keys each message's device (its anonymous id) with the deployment's keyed hash, and the legacy
// hash rows written before it hold. A browser sends many messages, and a batch of one tenant's flood (thousands of
// messages of a few hundred browsers) hashed every message's device twice: each browser's are hashed once a batch.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { DEFAULT_POLICIES, type KeysShape, makeConsentStage, makeKeys } from "../../consent/index.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"
import { ALL, prefs, web } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("the consent stage's device keys", () => {
  it("a batch of 2,000 messages from 20 browsers hashes each browser's device once, and records each browser's choice", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const real = makeKeys(new Uint8Array(32).fill(7))
      const hashed: Array<string> = []
      const keys: KeysShape = { ...real, hash: (text) => { hashed.push(text); return real.hash(text) } }
      const stage = yield* makeConsentStage(DEFAULT_POLICIES, keys)
      const batch = Array.from({ length: 2_000 }, (_, i) =>
        web(`m${i}`, new Date(Date.UTC(2024, 9, 1) + i * 1000).toISOString(), { anonymousId: `a${i % 20}`, profileId: `p${i % 20}`, context: prefs(ALL(i % 20 < 10)) }))
      const outcomes = yield* stage(batch)
      expect(outcomes.every((o) => o._tag === "ok")).toBe(true)
      expect(hashed.length, `${hashed.length} keyed hashes for 20 browsers`).toBeLessThanOrEqual(20)
      // Browsers a0-a9 granted everything, a10-a19 refused: their later messages are decided by what was recorded.
      const later = yield* stage([
        web("later3", "2024-10-02T00:00:00.000Z", { anonymousId: "a3", profileId: "p3" }),
        web("later13", "2024-10-02T00:00:00.000Z", { anonymousId: "a13", profileId: "p13" }),
      ])
      expect(later.map((o) => o._tag === "ok" && (o as { value: { extra: Record<string, unknown> } }).value.extra["consent_stripped"])).toEqual([undefined, "Analytics"])
    })), 60_000)
})
