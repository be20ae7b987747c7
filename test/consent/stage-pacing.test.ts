// The consent stage decodes the TCF and GPP strings of messages the edge did not decode in this process (`cdp worker`
// behind Kafka keeps none of the collector's readings) under the same decoding budget as a request, one budget after
// another with a turn of the event loop between; a message whose own strings need more than a whole budget is a dead
// letter naming why, never landed as if it carried no consent.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { DEFAULT_POLICIES, makeConsentStage } from "../../consent/index.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { longestStall } from "../support/event-loop.ts"
import { freshDir, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"
import { web } from "./support.ts"
import { restrictingTcf } from "../support/tcf.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** A message of its own profile carrying `context`. */
const message = (i: number, context: Record<string, unknown>): CanonicalEvent =>
  web(`m${i}`, "2024-10-01T10:00:00.000Z", { anonymousId: `a${i}`, profileId: `p${i}`, context })

describe("the consent stage's decoding", () => {
  it("a batch of 300 messages with distinct costly TCF strings, none decoded in this process, gives the event loop turns", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      const stage = yield* makeConsentStage(DEFAULT_POLICIES)
      // Version 301: strings no other test of this process decoded (as in a worker, where the edge's readings are not).
      const batch = Array.from({ length: 300 }, (_, i) => message(i, { consent: { tcf: restrictingTcf(i + 2, 1_999, 301) } }))
      const { result: outcomes, longestMs } = yield* longestStall(stage(batch))
      // Before: the 300 strings (~5 ms each) decoded in one go, 1.5 s without a turn.
      expect(longestMs).toBeLessThan(600)
      // Every message read its string: each is ok (the default policy keeps what it does not allow, stripped).
      expect(outcomes.map((o) => o._tag)).toEqual(batch.map(() => "ok"))
    })), 120_000)

  it("a message whose own strings need more than a whole budget is a dead letter naming the field and why; the next is read", () =>
    withEmbeddedWarehouse(dir, Effect.gen(function* () {
      // A budget one costly string spends.
      const stage = yield* makeConsentStage(DEFAULT_POLICIES, undefined, { work: 1 })
      const gpp = `DBABMA~${restrictingTcf(3, 1_999, 302)}`
      const outcomes = yield* stage([
        message(1, { consent: { tcf: restrictingTcf(2, 1_999, 302), gpp } }),
        message(2, { consent: { tcf: restrictingTcf(4, 1_999, 302) } }),
      ])
      expect(outcomes[0]).toMatchObject({ _tag: "deadLetter", rejection: { rule: "too_many_consent_strings", field: "/context/consent/gpp" } })
      expect(outcomes[0]!._tag === "deadLetter" && outcomes[0]!.rejection.message)
        .toMatch(/^context\.consent\.gpp, a GPP string, was not decoded: this message's consent strings \(TCF and GPP\) already needed/)
      expect(outcomes[1]!._tag).toBe("ok")
    })))
})
