import { readFileSync, writeFileSync } from "node:fs"
import http from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { importFile } from "../../ingest/import.ts"
import {
  listenReport, renderListenHtml, renderListenText, type ListenOptions, type ListenReport,
} from "../../sentiment/index.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"
import { SIGNALS_DEV } from "../support/shared.ts"
import { DEV_TWEETS } from "../support/x-replay-server.ts"

const BRAND = ["Lumen Outfitters", "@lumenoutfitters", "#lumenoutfitters"]
// The dev set spans 2024-09-05..2024-12-01; the report covers whole UTC days 2024-09-02..2024-12-01.
const SINCE = new Date("2024-09-02T00:00:00.000Z")
const UNTIL = new Date("2024-12-02T00:00:00.000Z")

interface DevTweet {
  readonly id: string
  readonly text: string
  readonly author_id: string
  readonly created_at: string
  readonly public_metrics: Record<string, number>
  readonly entities?: { readonly urls?: ReadonlyArray<{ readonly expanded_url?: string }> }
}
interface DevUser { readonly id: string; readonly username: string; readonly name?: string }

const pages = JSON.parse(readFileSync(DEV_TWEETS, "utf8")) as Array<{ data: Array<DevTweet>; includes?: { users?: Array<DevUser> } }>
const tweets = pages.flatMap((p) => p.data)
const users = new Map(pages.flatMap((p) => p.includes?.users ?? []).map((u) => [u.id, u]))
// The spam oracle is the ground truth, not the filter's own rules: the tweets of the people the data set marks as bots.
const botIds = new Set(
  readFileSync(`${SIGNALS_DEV}truth/persons.ndjson`, "utf8").trim().split("\n")
    .map((line) => JSON.parse(line) as { kind: string; twitter: { id: string } | null })
    .filter((p) => p.kind === "bot" && p.twitter !== null)
    .map((p) => p.twitter!.id),
)
const isPlantedSpam = (t: DevTweet) => botIds.has(t.author_id)
const genuine = tweets.filter((t) => !isPlantedSpam(t))
const engagementOf = (t: DevTweet) =>
  (t.public_metrics["like_count"] ?? 0) + (t.public_metrics["retweet_count"] ?? 0) +
  (t.public_metrics["reply_count"] ?? 0) + (t.public_metrics["quote_count"] ?? 0)

// Another tenant with posts from a review network, whose authors have follower counts.
const POSTS = [
  { id: 1, handle: "trailmix", name: "Trail Mix Blog", followers: 52_000, day: "2024-11-02", text: "Fernhill parkas are the warmest we tested" },
  { id: 2, handle: "trailmix", name: "Trail Mix Blog", followers: 52_100, day: "2024-11-03", text: "Second look at the Fernhill range: still great" },
  { id: 3, handle: "sam_walks", name: "Sam", followers: 340, day: "2024-11-03", text: "My Fernhill boots leak, really disappointed" },
  { id: 4, handle: "gearguru", name: "Gear Guru", followers: 8_000, day: "2024-11-04", text: "Fernhill delivery was slow but the jacket is lovely" },
  { id: 5, handle: "nobody", followers: 2, day: "2024-11-04", text: "Fernhill replicas cheap cheap, DM for promo", url: "https://cheap-deals.example/x" },
]

let root: string
let dir: string
let hooks: http.Server
let hookUrl: string
let hookMode: "ok" | "fail" = "ok"
const received: Array<{ body: string; contentType: string | undefined }> = []

const run = (options: Partial<ListenOptions> = {}) =>
  withPipeline(dir, listenReport({ tenant: "acme", since: SINCE, until: UNTIL, brand: BRAND, raiseAlerts: false, ...options }))

beforeAll(async () => {
  root = freshDir("cdp-listen-")
  dir = join(root, "data")
  const postsFile = join(root, "posts.ndjson")
  writeFileSync(postsFile, POSTS.map((p) => JSON.stringify({
    id: p.id, network: "reviewhub", author_handle: p.handle, text: p.text, created_at: `${p.day}T10:00:00Z`,
    author_followers: p.followers, ...(p.name === undefined ? {} : { author_name: p.name }), ...(p.url === undefined ? {} : { url: p.url }),
  })).join("\n"))
  await withPipeline(dir, Effect.gen(function* () {
    yield* importFile("twitter", DEV_TWEETS, { tenant: "acme" })
    yield* importFile("twitter", DEV_TWEETS, { tenant: "initech" })
    yield* importFile("social", postsFile, { tenant: "globex" })
  }))
  hooks = http.createServer((req, res) => {
    let body = ""
    req.on("data", (c: Buffer) => { body += c.toString("utf8") })
    req.on("end", () => {
      received.push({ body, contentType: req.headers["content-type"] })
      res.writeHead(hookMode === "ok" ? 204 : 500).end()
    })
  })
  await new Promise<void>((resolve) => hooks.listen(0, "127.0.0.1", resolve))
  hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hooks/cdp`
})

afterAll(async () => {
  await new Promise((resolve) => hooks.close(resolve))
  removeDir(root)
})

describe("listenReport on the dev tweets in a real embedded warehouse", () => {
  let report: ListenReport

  it("counts mentions per day with the planted spam filtered out and reported", async () => {
    report = await run()
    expect(report.mentions.spamFiltered).toBe(tweets.length - genuine.length)
    expect(report.mentions.total).toBe(genuine.length)
    // The report says why it filtered what it did.
    expect(Object.keys(report.mentions.spamReasons).length).toBeGreaterThan(0)
    expect(report.days).toHaveLength(91)
    expect(report.days[0]!.day).toBe("2024-09-02")
    expect(report.days.at(-1)!.day).toBe("2024-12-01")
    const perDay = new Map<string, number>()
    for (const t of genuine) perDay.set(t.created_at.slice(0, 10), (perDay.get(t.created_at.slice(0, 10)) ?? 0) + 1)
    for (const d of report.days) {
      expect(d.mentions, d.day).toBe(perDay.get(d.day) ?? 0)
      expect(d.positive + d.neutral + d.negative).toBe(d.mentions)
    }
    expect(report.days.reduce((n, d) => n + d.spam, 0)).toBe(report.mentions.spamFiltered)
    expect(report.engagement).toBe(genuine.reduce((n, t) => n + engagementOf(t), 0))
    expect(report.mentions.authors).toBe(new Set(genuine.map((t) => t.author_id)).size)
  })

  it("sentiment per day and per aspect agree with the sentiment table (FINAL) for the genuine tweets", async () => {
    const ids = genuine.map((t) => t.id)
    const [labels, aspects] = await withPipeline(dir, Effect.all([
      query<{ label: string; n: string }>(
        "SELECT label, count() AS n FROM sentiment FINAL WHERE tenant = 'acme' AND message_id IN {ids:Array(String)} GROUP BY label",
        { ids },
      ),
      query<{ aspect: string; n: string; neg: string }>(
        `SELECT tupleElement(a, 'aspect') AS aspect, count() AS n, countIf(tupleElement(a, 'label') = 'negative') AS neg
         FROM sentiment FINAL ARRAY JOIN aspects AS a WHERE tenant = 'acme' AND message_id IN {ids:Array(String)} GROUP BY aspect`,
        { ids },
      ),
    ]))
    const byLabel = Object.fromEntries(labels.map((r) => [r.label, Number(r.n)]))
    expect(report.sentiment.positive).toBe(byLabel["positive"] ?? 0)
    expect(report.sentiment.negative).toBe(byLabel["negative"] ?? 0)
    expect(report.sentiment.negative).toBeGreaterThan(0)
    expect(report.aspects.map((a) => a.aspect).sort()).toEqual(aspects.map((a) => a.aspect).sort())
    for (const a of report.aspects) {
      const truth = aspects.find((r) => r.aspect === a.aspect)!
      expect(a.mentions, a.aspect).toBe(Number(truth.n))
      expect(a.negativeShare).toBeCloseTo(Number(truth.neg) / Number(truth.n), 3)
      expect(a.positiveShare + a.negativeShare).toBeLessThanOrEqual(1)
      expect(a.avgScore).toBeGreaterThanOrEqual(-1)
      expect(a.avgScore).toBeLessThanOrEqual(1)
    }
    // Broken zips make product the most negative aspect of the dev set; support is praised.
    const product = report.aspects.find((a) => a.aspect === "product")!
    expect(product.negativeShare).toBeGreaterThan(0.2)
    expect(report.aspects.find((a) => a.aspect === "support")!.positiveShare).toBeGreaterThan(0.5)
  })

  it("lists top authors by engagement (likes + reposts + replies + quotes), without spammers", () => {
    const perAuthor = new Map<string, number>()
    for (const t of genuine) perAuthor.set(t.author_id, (perAuthor.get(t.author_id) ?? 0) + engagementOf(t))
    const best = [...perAuthor].sort((a, b) => b[1] - a[1])
    const top = report.topAuthors.byEngagement
    expect(top).toHaveLength(10)
    expect(top[0]).toMatchObject({ handle: `@${users.get(best[0]![0])!.username}`, engagement: best[0]![1] })
    for (let i = 1; i < top.length; i++) expect(top[i]!.engagement).toBeLessThanOrEqual(top[i - 1]!.engagement)
    const spammers = new Set(tweets.filter(isPlantedSpam).map((t) => `@${users.get(t.author_id)!.username}`))
    for (const a of [...top, ...report.topAuthors.byReach]) expect(spammers.has(a.handle), a.handle).toBe(false)
  })

  it("finds spikes in the dev data: the Black Friday volume, and negative spikes only on its days", () => {
    expect(report.spikes.length).toBeGreaterThan(0)
    const volume = report.spikes.filter((s) => s.kind === "volume_spike").map((s) => s.day)
    expect(volume).toContain("2024-11-29")
    // The data set plants no negative spike of its own: negative mentions rise only with the Black Friday volume.
    const negative = report.spikes.filter((s) => s.kind === "negative_spike")
    for (const s of negative) {
      expect(s.day >= "2024-11-28").toBe(true)
      expect(s.value).toBeGreaterThan(s.threshold)
      expect(s.status).toBe("not_raised")
    }
  })

  it("surfaces topics without the brand's names", () => {
    const words = report.topics.phrases.flatMap((t) => [t.phrase, ...t.related]).join(" ")
    expect(report.topics.phrases.length).toBeGreaterThan(0)
    expect(words).not.toMatch(/lumen|outfitters/i)
    expect(report.topics.phrases.flatMap((t) => [t.phrase, ...t.related])).toContain("zip broke")
  })

  it("is plain JSON without any text or e-mail address, and renders as text and HTML", () => {
    const json = JSON.stringify(report)
    expect(JSON.parse(json)).toEqual(report)
    expect(json).not.toMatch(/[\w.+-]+@[\w-]+\.[\w.]+/)
    for (const t of genuine.slice(0, 50)) expect(json).not.toContain(t.text)
    const text = renderListenText(report)
    expect(text).toContain(`Mentions ${genuine.length}`)
    expect(text).toContain("2024-11-29")
    expect(renderListenHtml(report)).toContain("<svg")
  })

  it("ranks authors by reach (followers) on other networks and filters their spam too", async () => {
    const r = await run({ tenant: "globex" })
    expect(r.mentions).toMatchObject({ total: 4, spamFiltered: 1, authors: 3 })
    expect(r.topAuthors.byReach.map((a) => a.handle)).toEqual(["reviewhub:trailmix", "reviewhub:gearguru", "reviewhub:sam_walks"])
    expect(r.topAuthors.byReach[0]).toMatchObject({ name: "Trail Mix Blog", followers: 52_100, mentions: 2 })
    expect(r.reach).toBe(52_000 + 52_100 + 340 + 8_000)
    expect(r.days.find((d) => d.day === "2024-11-03")!.reach).toBe(52_100 + 340)
  })
})

describe("spike alerts", () => {
  const personal = [...users.values()].flatMap((u) => [u.username.toLowerCase(), ...(u.name === undefined ? [] : [u.name.toLowerCase()])])

  it("write one alert row per spike and call the webhook once, even when the report runs twice", async () => {
    received.length = 0
    hookMode = "ok"
    const first = await run({ raiseAlerts: true, webhookUrl: hookUrl })
    expect(first.spikes.length).toBeGreaterThan(0)
    expect(first.spikes.every((s) => s.status === "new" && s.notified)).toBe(true)
    expect(first.alerts).toMatchObject({ enabled: true, raised: first.spikes.length, existing: 0 })
    expect(first.alerts.webhook).toEqual({ configured: true, delivered: first.spikes.length, failed: 0, errors: [] })
    expect(received).toHaveLength(first.spikes.length)

    const second = await run({ raiseAlerts: true, webhookUrl: hookUrl })
    expect(second.spikes.map((s) => s.alertId)).toEqual(first.spikes.map((s) => s.alertId))
    expect(second.spikes.every((s) => s.status === "existing" && s.notified)).toBe(true)
    expect(second.alerts).toMatchObject({ raised: 0, existing: first.spikes.length })
    expect(received).toHaveLength(first.spikes.length)

    const rows = await withPipeline(dir, query<{ alert_id: string; kind: string; day: string; value: number; notified: number; details: string }>(
      "SELECT alert_id, kind, toString(day) AS day, value, notified, details FROM alerts WHERE tenant = 'acme' ORDER BY day, kind",
    ))
    // Without FINAL: the rows really were written once.
    expect(rows).toHaveLength(first.spikes.length)
    expect(rows.map((r) => r.alert_id)).toEqual(first.spikes.map((s) => s.alertId))
    const spike = first.spikes[0]!
    expect(rows.find((r) => r.alert_id === spike.alertId)).toMatchObject({ kind: spike.kind, day: spike.day, value: spike.value, notified: 1 })
    expect(JSON.parse(rows[0]!.details)).toMatchObject({ k: 3, baseline_days: 28 })
  })

  it("the webhook gets counts, the day and the tenant as JSON, and nothing about any person", () => {
    expect(received.length).toBeGreaterThan(0)
    for (const { body, contentType } of received) {
      expect(contentType).toBe("application/json")
      const payload = JSON.parse(body) as Record<string, unknown>
      expect(Object.keys(payload).sort()).toEqual(
        ["alert_id", "baseline_median", "day", "kind", "mentions", "negative", "tenant", "text", "threshold", "type", "value"],
      )
      expect(payload).toMatchObject({ type: "cdp.listen.alert", tenant: "acme" })
      expect(payload["day"]).toMatch(/^2024-\d\d-\d\d$/)
      for (const key of ["value", "baseline_median", "threshold", "mentions", "negative"]) expect(typeof payload[key]).toBe("number")
      const lower = body.toLowerCase()
      expect(lower).not.toContain("@")
      for (const p of personal) expect(lower.includes(`"${p}"`) || lower.includes(` ${p} `), p).toBe(false)
      for (const t of tweets.slice(0, 100)) expect(body).not.toContain(t.text.slice(0, 30))
    }
  })

  it("a failing webhook is reported, does not fail the report, and is retried by the next run", async () => {
    const closed = http.createServer()
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/`
    await new Promise((resolve) => closed.close(resolve))

    const refused = await run({ tenant: "initech", raiseAlerts: true, webhookUrl: deadUrl })
    const n = refused.spikes.length
    expect(n).toBeGreaterThan(0)
    expect(refused.alerts.webhook).toMatchObject({ configured: true, delivered: 0, failed: n })
    expect(new Set(refused.alerts.webhook.errors)).toEqual(new Set(["ECONNREFUSED"]))
    expect(refused.spikes.every((s) => s.status === "new" && !s.notified)).toBe(true)
    expect(JSON.stringify(refused)).not.toContain(deadUrl)

    hookMode = "fail"
    received.length = 0
    const rejected = await run({ tenant: "initech", raiseAlerts: true, webhookUrl: hookUrl })
    expect(rejected.alerts.webhook).toMatchObject({ delivered: 0, failed: n, errors: Array(n).fill("HTTP 500") })
    expect(rejected.alerts).toMatchObject({ raised: 0, existing: n })

    hookMode = "ok"
    const retried = await run({ tenant: "initech", raiseAlerts: true, webhookUrl: hookUrl })
    expect(retried.alerts.webhook).toMatchObject({ delivered: n, failed: 0 })
    expect(retried.spikes.every((s) => s.status === "existing" && s.notified)).toBe(true)
    const rows = await withPipeline(dir, query<{ n: string; notified: string }>(
      "SELECT count() AS n, sum(notified) AS notified FROM alerts FINAL WHERE tenant = 'initech'",
    ))
    expect(rows[0]).toEqual({ n: String(n), notified: String(n) })

    // Delivered now: a fourth run sends nothing.
    received.length = 0
    await run({ tenant: "initech", raiseAlerts: true, webhookUrl: hookUrl })
    expect(received).toHaveLength(0)
  })

  it("a webhook that does not answer is waited for once in a run, not once per alert; the others are sent by the next run", async () => {
    // A receiver that takes the call and never answers: each call waited its whole 5 s, so a report raising n alerts
    // answered its caller (POST /v1/listening/report) only after n times 5 s.
    const silent = http.createServer(() => {})
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve))
    try {
      await withPipeline(dir, importFile("twitter", DEV_TWEETS, { tenant: "umbrella" }))
      const r = await run({ tenant: "umbrella", raiseAlerts: true, k: 0.5, webhookUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/` })
      const n = r.spikes.length
      expect(n).toBeGreaterThan(2)
      expect(r.alerts.webhook).toMatchObject({ delivered: 0, failed: n })
      // One call waited its 5 s (the product's own timeout); the others were not sent, so not waited for (before, each
      // one's error was its own timeout). No bound on this machine's clock: the report's queries take longer under load.
      expect(r.alerts.webhook.errors).toEqual(["timeout", ...Array(n - 1).fill("not sent: the webhook did not answer an earlier alert of this run within 5 s")])
      expect(r.spikes.every((s) => !s.notified)).toBe(true)
      // The next run, with the receiver answering, sends them all.
      const again = await run({ tenant: "umbrella", raiseAlerts: true, k: 0.5, webhookUrl: hookUrl })
      expect(again.alerts.webhook).toMatchObject({ delivered: n, failed: 0 })
    } finally {
      silent.closeAllConnections()
      silent.close()
    }
  }, 120_000)

  it("with alerts off nothing is written or sent", async () => {
    received.length = 0
    const r = await run({ tenant: "globex", raiseAlerts: false, webhookUrl: hookUrl, k: 0.5 })
    expect(r.alerts.enabled).toBe(false)
    expect(received).toHaveLength(0)
    const rows = await withPipeline(dir, query<{ n: string }>("SELECT count() AS n FROM alerts WHERE tenant = 'globex'"))
    expect(rows[0]!.n).toBe("0")
  })
})
