// Churn risk while a person stays away: nothing they do lowers it, so a longer silence must never lower it either.
// Before the risk read every signal as of the day scored, a silence moved signals that are no recency (a visit
// leaving the 30-day window, the type likeness, days since the last complaint) and on the training variants the risk
// of a person who stayed away fell by more than 0.02 in about one week out of four (by up to 0.85).
import { describe, expect, it } from "vitest"
import { DEFAULT_RELATIONS_CONFIG, scoreProfile } from "../../../identity/relations/index.ts"
import type { ActivityDay, ProfileHistory, Said } from "../../../warehouse/relations.ts"

const C = DEFAULT_RELATIONS_CONFIG
const DAY = 86_400_000
const dayAt = (start: string, n: number) => new Date(Date.parse(`${start}T00:00:00Z`) + n * DAY).toISOString().slice(0, 10)
const day = (d: string, ...acts: ReadonlyArray<readonly [string, number, number]>): ActivityDay => ({ day: d, events: acts.length, acts, reach: 0, engagement: 0, followers: 0 })
const text = (id: string, d: string, channel: string, score: number): Said =>
  ({ messageId: id, atMs: Date.parse(`${d}T12:00:00Z`), channel, source: channel, score, label: score > 0.05 ? "positive" : score < -0.05 ? "negative" : "neutral" })

/** A regular: a visit every fourth day and an order every third week for 100 days from 1 June, mail weekly throughout. */
const regular = (): ProfileHistory => ({
  profileId: "regular",
  days: Array.from({ length: 220 }, (_, i) => {
    const d = dayAt("2024-06-01", i)
    const acts: Array<readonly [string, number, number]> = []
    if (i < 100 && i % 4 === 0) acts.push(["web/page", 2, 0])
    if (i < 100 && i % 21 === 3) acts.push(["web/Order Completed", 1, 80])
    if (i % 7 === 0) acts.push(["email/Email Delivered", 1, 0])
    if (i < 100 && i % 14 === 0) acts.push(["email/Email Opened", 1, 0])
    return acts.length === 0 ? undefined : day(d, ...acts)
  }).filter((d): d is ActivityDay => d !== undefined),
  said: [],
})

/** Someone who praised, then complained twice (one unresolved) and stopped coming. */
const complainer = (): ProfileHistory => ({
  profileId: "complainer",
  days: Array.from({ length: 70 }, (_, i) => (i % 5 === 0 ? day(dayAt("2024-06-01", i), ["web/page", 1, 0]) : undefined))
    .filter((d): d is ActivityDay => d !== undefined),
  said: [text("t1", "2024-06-10", "social", 0.8), text("t2", "2024-07-20", "chat", -0.6), text("t3", "2024-08-05", "call", -0.7)],
})

/** A mail reader: opens most weekly mails for two months, then mail keeps coming unopened. */
const reader = (): ProfileHistory => ({
  profileId: "reader",
  days: Array.from({ length: 30 }, (_, w) => day(dayAt("2024-06-01", w * 7), ["email/Email Delivered", 1, 0],
    ...(w < 9 && w % 3 !== 2 ? [["email/Email Opened", 1, 0] as const] : []), ...(w === 4 ? [["web/page", 1, 0] as const] : []))),
  said: [],
})

describe("churn risk while a person stays away", () => {
  for (const history of [regular(), complainer(), reader()]) {
    it(`${history.profileId}: never falls from one day to the next while they stay away`, () => {
      // Scored every day for 150 days, each day from what had landed by then.
      const scores = Array.from({ length: 150 }, (_, n) => {
        const asOf = dayAt("2024-07-15", n)
        const end = Date.parse(`${asOf}T23:59:59.999Z`)
        const upToThen = { ...history, days: history.days.filter((d) => d.day <= asOf), said: history.said.filter((t) => t.atMs <= end) }
        const s = scoreProfile(upToThen, asOf, C)
        return { asOf, risk: s.churnRisk, away: Number(s.signals["daysSinceLastActive"]) }
      })
      let rose = false
      for (let n = 1; n < scores.length; n++) {
        const [a, b] = [scores[n - 1]!, scores[n]!]
        if (b.away !== a.away + 1) continue
        expect(b.risk, `${a.asOf} (${a.away} days away) ${a.risk} -> ${b.asOf} ${b.risk}`).toBeGreaterThanOrEqual(a.risk)
        if (b.risk > a.risk) rose = true
      }
      // Not vacuous: the person did stay away for long stretches, and the risk moved while they did.
      expect(scores.filter((s) => s.away > 30).length).toBeGreaterThan(30)
      expect(rose).toBe(true)
    })
  }
})
