// IAB GPP strings (the Global Privacy Platform's, e.g. "DBABLA~BVQqAAAAAgA.QA"): checked at the edge as TCF strings are,
// and read into the ledger: their TCF EU section as a TCF string, their US sections' opt-outs of sale, sharing and
// targeted advertising as a US Privacy string's opt-out of sale (the policy's `usPrivacy` purposes).
import { GppModel } from "@iabgpp/cmpapi"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { consentState, DEFAULT_POLICY, readSignals } from "../../consent/index.ts"
import { validateSegmentMessage } from "../../ingest/sources/segment.ts"
import { cpuMs } from "../support/event-loop.ts"
import { freshDir, query, removeDir } from "../support/pipeline.ts"
import { submit, web, withConsent } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const track = (context: Record<string, unknown>, properties: Record<string, unknown> = {}) =>
  ({ type: "track", event: "E", anonymousId: "a1", messageId: "m1", context, properties })

/** A GPP string from @iabgpp/cmpapi's own encoder, with these fields set per section. */
const gppString = (fields: Record<string, Record<string, unknown>>) => {
  const model = new GppModel()
  for (const [section, values] of Object.entries(fields)) for (const [field, value] of Object.entries(values)) model.setFieldValue(section, field, value)
  return model.encode()
}
const purposes = (...n: ReadonlyArray<number>) => Array.from({ length: 24 }, (_, i) => n.includes(i + 1))

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
const base64url = (bits: string) => {
  const padded = bits + "0".repeat((6 - (bits.length % 6)) % 6)
  return Array.from({ length: padded.length / 6 }, (_, i) => B64[parseInt(padded.slice(i * 6, i * 6 + 6), 2)]).join("")
}

describe("GPP strings", () => {
  it("are checked at the edge: one that does not decode, or is not a string, is bad_consent naming the field", () => {
    const good = gppString({ usnat: { SaleOptOut: 1 } })
    expect(validateSegmentMessage(track({ consent: { gpp: good } }))).toBeNull()
    expect(validateSegmentMessage(track({ consent: { gpp: " " } }))).toBeNull()
    for (const [context, properties, field] of [
      [{ consent: { gpp: "junk" } }, {}, "/context/consent/gpp"],
      [{ consent: { gppString: "DBABMA~zzz" } }, {}, "/context/consent/gppString"],
      [{ gpp: "DBABMA" }, {}, "/context/gpp"],
      [{ consent: { gpp: 12 } }, {}, "/context/consent/gpp"],
      [{}, { gpp: "DBABMA~" }, "/properties/gpp"],
    ] as const) {
      const r = validateSegmentMessage(track(context, properties))
      expect(r, field).toMatchObject({ rule: "bad_consent", field })
    }
    expect(validateSegmentMessage(track({ consent: { gpp: "junk" } }))!.message).toMatch(/is not a GPP consent string that can be decoded/)
  })

  it("a header naming a quarter of a billion sections is refused at once (the decoder would list each)", () => {
    // Type 3, version 1, one range: from 1 to 1 + the Fibonacci number of 40 zeros then 11.
    const header = base64url("000011" + "000001" + "000000000001" + "1" + "11" + "0".repeat(40) + "11")
    // CPU time, not wall time: the same work waits longer for a core on a loaded machine.
    const started = cpuMs()
    expect(validateSegmentMessage(track({ consent: { gpp: `${header}~BVQqAAAAAgA.QA` } }))).toMatchObject({ rule: "bad_consent" })
    expect(cpuMs() - started).toBeLessThan(200)
  })

  it("a US section's opt-out of sale, sharing or targeted ads refuses the usPrivacy purposes; not opted out refuses nothing", () => {
    const signals = (fields: Record<string, Record<string, unknown>>) =>
      readSignals(web("m", 1, { context: { consent: { gpp: gppString(fields) } } }), DEFAULT_POLICY).map((s) => [s.purpose, s.state, s.source])
    expect(signals({ usnat: { SaleOptOut: 1 } })).toEqual([["Advertising", "denied", "gpp"]])
    expect(signals({ usnat: { SaleOptOut: 2, TargetedAdvertisingOptOut: 1 } })).toEqual([["Advertising", "denied", "gpp"]])
    expect(signals({ usca: { SaleOptOut: 2, SharingOptOut: 1 } })).toEqual([["Advertising", "denied", "gpp"]])
    expect(signals({ usva: { SaleOptOut: 2, TargetedAdvertisingOptOut: 2 } })).toEqual([])
    // IAB's parameter name, on the context or in properties, is read too.
    const optOut = gppString({ usnat: { SaleOptOut: 1 } })
    expect(readSignals(web("m", 1, { context: { gpp: optOut } }), DEFAULT_POLICY).map((s) => s.purpose)).toEqual(["Advertising"])
    expect(readSignals(web("m", 1, { properties: { gpp: optOut } }), DEFAULT_POLICY).map((s) => s.purpose)).toEqual(["Advertising"])
  })

  it("a TCF EU section is read as a TCF string, and lands in the ledger with the GPP string as its proof", () =>
    withConsent(dir, Effect.gen(function* () {
      const gpp = gppString({ tcfeuv2: { CmpId: 10, PurposeConsents: purposes(1, 8, 9) } })
      yield* submit([web("g1", "2024-10-01T10:00:00.000Z", { anonymousId: "a1", context: { consent: { gpp } } })])
      const profile = (yield* query<{ profile_id: string }>("SELECT profile_id FROM events WHERE message_id = 'g1'"))[0]!.profile_id
      const analytics = yield* consentState("acme", profile, "Analytics")
      expect(analytics).toMatchObject({ state: "granted", since: { source: "gpp", messageId: "g1" } })
      expect(JSON.parse(analytics.since!.proof)).toEqual({ gpp })
      expect(yield* consentState("acme", profile, "Advertising")).toMatchObject({ state: "denied" })
    })))
})
