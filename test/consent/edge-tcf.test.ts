// TCF strings at the edge: one that cannot be decoded is refused as bad_consent (as every consent statement the
// readers cannot read is), not landed as if no choice was made.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { GppModel } from "@iabgpp/cmpapi"
import { consentBudget, tcfProblem } from "../../consent/index.ts"
import { validateSegmentMessage } from "../../ingest/sources/segment.ts"
import { freshDir, post, query, removeDir, withCollector } from "../support/pipeline.ts"
import { longestStall } from "../support/event-loop.ts"
import { restrictingTcf } from "../support/tcf.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const track = (context: Record<string, unknown>, properties: Record<string, unknown> = {}) =>
  ({ type: "track", event: "E", anonymousId: "a1", messageId: "m1", context, properties })

describe("TCF strings at the edge", () => {
  it("a TCF string that does not decode is refused bad_consent, naming the field", () => {
    for (const [context, field] of [
      [{ consent: { tcf: "not-a-tc-string" } }, "/context/consent/tcf"],
      [{ consent: { tcString: "CP" } }, "/context/consent/tcString"],
      [{ gdpr_consent: "%%%" }, "/context/gdpr_consent"],
    ] as const) {
      const r = validateSegmentMessage(track(context))
      expect(r, field).toMatchObject({ rule: "bad_consent", field })
      expect(r!.message, field).toMatch(/is not a TCF consent string that can be decoded/)
    }
    expect(validateSegmentMessage(track({}, { gdpr_consent: "nope" }))).toMatchObject({ rule: "bad_consent", field: "/properties/gdpr_consent" })
    // Why, in words: not the JavaScript error the decoder ran into ("Cannot read properties of undefined (reading 'forEach')").
    expect(validateSegmentMessage(track({ consent: { tcf: "not-a-tc-string" } }))!.message).toMatch(
      /^context\.consent\.tcf "not-a-tc-string" is not a TCF consent string that can be decoded \(its bits do not hold the fields a TCF string has\)/)
    // A blank string says nothing, as before.
    expect(validateSegmentMessage(track({ consent: { tcf: " " } }))).toBeNull()
  })

  it("on the collector, a batch's message with an undecodable TCF string is refused alone and kept as a dead letter; the others land", () =>
    withCollector(dir, (url) => Effect.gen(function* () {
      const res = yield* post(`${url}/v1/batch`, {
        batch: [
          { type: "track", event: "E", anonymousId: "a1", messageId: "good" },
          { type: "track", event: "E", anonymousId: "a2", messageId: "bad-tcf", context: { consent: { tcf: "garbage" } } },
        ],
      })
      expect(res.status).toBe(400)
      expect(res.body).toMatchObject({ accepted: 1, rejected: [{ index: 1, messageId: "bad-tcf", rule: "bad_consent", field: "/context/consent/tcf" }] })
      expect(yield* query("SELECT message_id FROM events")).toEqual([{ message_id: "good" }])
      expect(yield* query("SELECT message_id, rule FROM dead_letters")).toEqual([{ message_id: "bad-tcf", rule: "bad_consent" }])
    })))
})

describe("the work one request's TCF strings may cause", () => {
  it("a batch of many distinct costly strings holds the collector at most a bounded time; the rest are refused, naming why", () =>
    withCollector(dir, (url) => Effect.gen(function* () {
      // Each string restricts vendors 1-1,999 (under the caps, ~5 ms to decode); 300 distinct ones held the event loop
      // for over 1.5 s, and a 500 KB batch holds 2,500 (on a probe: /health waited 20-60 s).
      const batch = Array.from({ length: 300 }, (_, i) => ({
        type: "track", event: "E", anonymousId: `a${i}`, messageId: `m${i}`, context: { consent: { tcf: restrictingTcf(i + 2, 1_999) } },
      }))
      const { result: res, longestMs } = yield* longestStall(post(`${url}/v1/batch`, { batch }))
      expect(longestMs).toBeLessThan(600)
      expect(res.status).toBe(400)
      const body = res.body as { accepted: number; rejected: ReadonlyArray<{ index: number; rule: string; field: string; message: string }> }
      expect(body.accepted).toBeGreaterThan(0)
      expect(body.rejected.length).toBeGreaterThan(0)
      expect(body.accepted + body.rejected.length).toBe(300)
      for (const r of body.rejected) {
        expect(r).toMatchObject({ rule: "too_many_consent_strings", field: "/context/consent/tcf" })
        expect(r.message).toMatch(/^context\.consent\.tcf, a TCF string, was not decoded: .*send fewer distinct consent strings per batch/)
      }
      // The same strings again, now decoded lately, cost nothing more to read: a browser resending its string is not refused.
      const again = yield* post(`${url}/v1/batch`, { batch: batch.slice(0, 5).map((m) => ({ ...m, messageId: `${m.messageId}-again` })) })
      expect(again.status).toBe(200)
    })))

  it("one budget covers a request's TCF and GPP strings alike, and a refusal names the kind of string it refused", () => {
    const budget = consentBudget({ work: 1 })
    // A costly TCF string spends the request's budget (strings made for this case only: none was read before).
    expect(validateSegmentMessage(track({ consent: { tcf: restrictingTcf(4001, 1_999) } }), undefined, budget)).toBeNull()
    const model = new GppModel()
    model.setFieldValue("usnat", "SaleOptOut", 1)
    model.setFieldValue("usnat", "SharingOptOut", 2)
    model.setFieldValue("usnat", "TargetedAdvertisingOptOut", 1)
    const gpp = validateSegmentMessage(track({ consent: { gpp: model.encode() } }), undefined, budget)
    expect(gpp).toMatchObject({ rule: "too_many_consent_strings", field: "/context/consent/gpp" })
    expect(gpp!.message).toMatch(/^context\.consent\.gpp, a GPP string, was not decoded: this request's consent strings \(TCF and GPP\)/)
    const tcf = validateSegmentMessage(track({}, { gdpr_consent: restrictingTcf(4002, 1_999) }), undefined, budget)
    expect(tcf).toMatchObject({ rule: "too_many_consent_strings", field: "/properties/gdpr_consent" })
    expect(tcf!.message).toMatch(/^properties\.gdpr_consent, a TCF string, was not decoded/)
  })

  it("the budget counts decoding work from what the strings name, not time: a loaded machine refuses no more of them", () => {
    // Each decode seen as taking 100 ms, as on a machine too loaded to give the thread a core: the wall-clock budget
    // refused the third string of a batch of twenty real ones.
    let now = 0
    const clock = vi.spyOn(performance, "now").mockImplementation(() => (now += 50))
    try {
      const budget = consentBudget()
      for (let cmp = 4010; cmp < 4030; cmp++) {
        expect(validateSegmentMessage(track({ consent: { tcf: restrictingTcf(cmp, 1) } }), undefined, budget), String(cmp)).toBeNull()
      }
    } finally {
      clock.mockRestore()
    }
    // The same shapes count the same work; one restricting 1,999 vendors (~5 ms) counts far more than a real one.
    const [a, b, costly] = [consentBudget(), consentBudget(), consentBudget()]
    tcfProblem(restrictingTcf(4030, 1), a)
    tcfProblem(restrictingTcf(4031, 1), b)
    tcfProblem(restrictingTcf(4032, 1_999), costly)
    expect(a.spent).toBeGreaterThan(0)
    expect(b.spent).toBe(a.spent)
    expect(costly.spent).toBeGreaterThan(20 * a.spent)
  })

  it("past the thread CPU time a request may spend decoding (a backstop for costs the count does not see), new strings are refused", () => {
    // A string restricting vendors 1-1,999 takes about a millisecond of CPU, and a tenth of the counted budget at most.
    // The thread's CPU time may be kept in clock ticks (getrusage: 4 ms on many kernels), so one such string may read
    // as 0 ms or as a tick: strings are sent until one is refused, which must come before the counted budget is spent
    // (a budget of 0.5 ms checked after a single string failed now and then in a full run).
    const budget = consentBudget({ cpuMs: 0.5 })
    expect(validateSegmentMessage(track({ consent: { tcf: restrictingTcf(4040, 1_999) } }), undefined, budget)).toBeNull()
    const perString = budget.spent
    expect(perString).toBeLessThan(budget.limit / 10)
    let refused: ReturnType<typeof validateSegmentMessage> = null
    for (let cmp = 4041; refused === null && budget.spent + perString < budget.limit; cmp++) {
      refused = validateSegmentMessage(track({ consent: { tcf: restrictingTcf(cmp, 1_999) } }), undefined, budget)
    }
    expect(budget.cpuMs).toBeGreaterThanOrEqual(0.5)
    expect(budget.spent, "refused by the CPU time, not the count").toBeLessThan(budget.limit)
    expect(refused).toMatchObject({ rule: "too_many_consent_strings", field: "/context/consent/tcf" })
  })

  it("on a Node without the thread's CPU time (22.x; process.threadCpuUsage came in 23.9), strings are read under the count alone", () => {
    const threadCpuUsage = Object.getOwnPropertyDescriptor(process, "threadCpuUsage")
    Object.defineProperty(process, "threadCpuUsage", { value: undefined, configurable: true, writable: true })
    try {
      const budget = consentBudget({ cpuMs: 0.5 })
      expect(validateSegmentMessage(track({ consent: { tcf: restrictingTcf(4050, 1_999) } }), undefined, budget)).toBeNull()
      expect(validateSegmentMessage(track({ consent: { tcf: restrictingTcf(4051, 1) } }), undefined, budget)).toBeNull()
    } finally {
      if (threadCpuUsage !== undefined) Object.defineProperty(process, "threadCpuUsage", threadCpuUsage)
    }
  })
})
