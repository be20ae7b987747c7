// A made-up listening report (no warehouse needed) for the renderers' tests: 30 days, spikes, aspects, authors
// and topics, with markup in the places where the public can write.
import type { ListenDay, ListenReport } from "../../sentiment/index.ts"

export const HOSTILE_NAME = `<script>alert("x")</script>`

export const fixtureReport = (dayCount = 30): ListenReport => {
  const days: Array<ListenDay> = Array.from({ length: dayCount }, (_, i) => {
    const date = new Date(Date.UTC(2024, 10, 1) + i * 86_400_000).toISOString().slice(0, 10)
    const negative = i === 20 ? 14 : (i * 7) % 4
    const positive = 3 + ((i * 5) % 6)
    const neutral = 2 + ((i * 3) % 5)
    const mentions = positive + negative + neutral
    return { day: date, mentions, positive, negative, neutral, reach: 1000 + i * 250, impressions: 5000 + i * 100, engagement: (i * 13) % 90, spam: i % 3 }
  })
  const sum = (key: "mentions" | "positive" | "negative" | "neutral" | "reach" | "impressions" | "engagement") =>
    days.reduce((n, d) => n + d[key], 0)
  const total = sum("mentions")
  return {
    tenant: "acme",
    since: days[0] === undefined ? "2024-11-01T00:00:00.000Z" : `${days[0].day}T00:00:00.000Z`,
    until: new Date(Date.UTC(2024, 10, 1) + dayCount * 86_400_000).toISOString(),
    generatedAt: "2024-12-01T08:00:00.000Z",
    brand: ["Fernhill Gear", "@fernhillgear"],
    mentions: { total, spamFiltered: sum("mentions") === 0 ? 0 : 29, spamReasons: { deal_link: 20, promo_text: 12, classifier: 25 }, authors: 57 },
    sentiment: {
      positive: sum("positive"), negative: sum("negative"), neutral: sum("neutral"),
      positiveShare: total === 0 ? 0 : sum("positive") / total, negativeShare: total === 0 ? 0 : sum("negative") / total,
    },
    reach: sum("reach"), impressions: sum("impressions"), engagement: sum("engagement"),
    days,
    aspects: dayCount === 0 ? [] : [
      { aspect: "product", mentions: 80, positive: 30, negative: 40, positiveShare: 0.375, negativeShare: 0.5, avgScore: -0.21 },
      { aspect: "delivery", mentions: 42, positive: 10, negative: 25, positiveShare: 0.2381, negativeShare: 0.5952, avgScore: -0.33 },
      { aspect: "support", mentions: 17, positive: 15, negative: 1, positiveShare: 0.8824, negativeShare: 0.0588, avgScore: 0.61 },
      { aspect: "<b>sizing</b>", mentions: 5, positive: 1, negative: 1, positiveShare: 0.2, negativeShare: 0.2, avgScore: 0 },
    ],
    topAuthors: dayCount === 0 ? { byReach: [], byEngagement: [] } : {
      byReach: [
        { handle: "@trailmix", name: "Trail Mix", followers: 52000, mentions: 2, engagement: 40 },
        { handle: "@hostile", name: HOSTILE_NAME, followers: 900, mentions: 1, engagement: 3 },
        { handle: "reviewhub:sam", followers: 120, mentions: 4, engagement: 0 },
      ],
      byEngagement: [
        { handle: "@loud", name: "Loud & Proud", followers: 50, mentions: 3, engagement: 600 },
        { handle: "@trailmix", name: "Trail Mix", followers: 52000, mentions: 2, engagement: 40 },
      ],
    },
    topics: {
      since: "2024-11-24T00:00:00.000Z", until: "2024-12-01T00:00:00.000Z", previousSince: "2024-11-17T00:00:00.000Z",
      phrases: dayCount === 0 ? [] : [
        { phrase: "strap snapped", score: 0.41, mentions: 12, previousMentions: 0, related: ["shoulder strap", "strap"] },
        { phrase: "black friday", score: 0.2, mentions: 30, previousMentions: 4, related: [] },
        { phrase: "<img src=x>", score: 0.05, mentions: 3, previousMentions: 0, related: ["\"quoted\""] },
      ],
    },
    spikes: dayCount <= 20 ? [] : [
      { day: days[20]!.day, kind: "negative_spike", value: 14, median: 1.5, mad: 1, threshold: 6.0, alertId: "a1", status: "new", notified: true },
      { day: days[20]!.day, kind: "volume_spike", value: days[20]!.mentions, median: 9, mad: 2, threshold: 17.9, alertId: "a2", status: "existing", notified: false },
    ],
    alerts: { enabled: true, raised: 1, existing: 1, webhook: { configured: true, delivered: 1, failed: 1, errors: ["HTTP 500"] } },
    settings: { k: 3, baselineDays: 28, minHistoryDays: 7, minCount: 3 },
  }
}
