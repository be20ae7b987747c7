// The listening report as text for a terminal: a summary, then tables (days with a volume bar, aspects, authors,
// topics, spikes).
import Table from "cli-table3"
import type { ListenReport, ListenSpike } from "./listen.ts"
import { relationshipsText } from "./report-relations.ts"
import { num, pct } from "./report-format.ts"

const signed = (x: number): string => (x > 0 ? `+${x.toFixed(2)}` : x.toFixed(2))

const BAR_WIDTH = 30
const bar = (value: number, max: number): string => (max <= 0 ? "" : "█".repeat(Math.round((value / max) * BAR_WIDTH)))

const table = (head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string | number>>, right: ReadonlySet<number> = new Set()): string => {
  const t = new Table({
    head: [...head],
    style: { head: [], border: [], compact: true },
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
    colAligns: head.map((_, i) => (right.has(i) ? "right" : "left")),
  })
  for (const row of rows) t.push(row.map((v) => (typeof v === "number" ? num(v) : v)))
  return t.toString()
}

const KIND_LABEL: Readonly<Record<ListenSpike["kind"], string>> = { negative_spike: "negative", volume_spike: "volume" }

const section = (title: string, body: string): string => `\n${title}\n${body}`

export const renderListenText = (report: ListenReport): string => {
  const out: Array<string> = []
  const lastDay = report.days.at(-1)?.day ?? report.until.slice(0, 10)
  out.push(`Social listening for ${report.tenant}: ${report.since.slice(0, 10)} to ${lastDay} (UTC)`)
  const reasons = Object.entries(report.mentions.spamReasons).map(([r, n]) => `${r} ${n}`).join(", ")
  out.push(
    `Mentions ${num(report.mentions.total)} · spam filtered ${num(report.mentions.spamFiltered)}` +
      (reasons === "" ? "" : ` (${reasons})`) + ` · authors ${num(report.mentions.authors)}`,
  )
  out.push(`Reach ${num(report.reach)} · impressions ${num(report.impressions)} · engagement ${num(report.engagement)}`)
  const s = report.sentiment
  out.push(`Sentiment: positive ${num(s.positive)} (${pct(s.positiveShare)}) · neutral ${num(s.neutral)} · negative ${num(s.negative)} (${pct(s.negativeShare)})`)

  const spikeDays = new Map<string, Array<string>>()
  for (const spike of report.spikes) spikeDays.set(spike.day, [...(spikeDays.get(spike.day) ?? []), KIND_LABEL[spike.kind]])
  const max = Math.max(0, ...report.days.map((d) => d.mentions))
  out.push(section("Per day", report.days.length === 0 ? "(no days)" : table(
    ["day", "mentions", "positive", "neutral", "negative", "reach", "spam", "volume", "spike"],
    report.days.map((d) => [
      d.day, d.mentions, d.positive, d.neutral, d.negative, d.reach, d.spam, bar(d.mentions, max),
      (spikeDays.get(d.day) ?? []).join(", "),
    ]),
    new Set([1, 2, 3, 4, 5, 6]),
  )))

  out.push(section("Aspects", report.aspects.length === 0 ? "(no aspects mentioned)" : table(
    ["aspect", "mentions", "positive", "negative", "avg score"],
    report.aspects.map((a) => [a.aspect, a.mentions, pct(a.positiveShare), pct(a.negativeShare), signed(a.avgScore)]),
    new Set([1, 2, 3, 4]),
  )))

  const authors = (title: string, list: ListenReport["topAuthors"]["byReach"]) =>
    section(title, list.length === 0 ? "(no authors)" : table(
      ["handle", "name", "followers", "mentions", "engagement"],
      list.map((a) => [a.handle, a.name ?? "", a.followers, a.mentions, a.engagement]),
      new Set([2, 3, 4]),
    ))
  out.push(authors("Top authors by reach", report.topAuthors.byReach))
  out.push(authors("Top authors by engagement", report.topAuthors.byEngagement))

  const t = report.topics
  out.push(section(
    `Emerging topics (${t.since.slice(0, 10)} to ${lastDay}, against ${t.previousSince.slice(0, 10)} to ${t.since.slice(0, 10)})`,
    t.phrases.length === 0 ? "(none)" : table(
      ["phrase", "score", "mentions", "before", "related"],
      t.phrases.map((p) => [p.phrase, p.score.toFixed(3), p.mentions, p.previousMentions, p.related.join(", ")]),
      new Set([1, 2, 3]),
    ),
  ))

  const a = report.alerts
  const alertLine = !a.enabled
    ? "alerts off"
    : `${a.raised} new alert(s), ${a.existing} raised before` + (a.webhook.configured
      ? `; webhook: ${a.webhook.delivered} delivered, ${a.webhook.failed} failed` +
        (a.webhook.errors.length === 0 ? "" : ` (${[...new Set(a.webhook.errors)].join(", ")})`)
      : "; no webhook configured")
  out.push(section(`Spikes (median + ${report.settings.k} × spread of the ${report.settings.baselineDays} days before; ${alertLine})`,
    report.spikes.length === 0 ? "(none)" : table(
      ["day", "kind", "value", "usual", "threshold", "alert"],
      report.spikes.map((sp) => [sp.day, KIND_LABEL[sp.kind], sp.value, sp.median, sp.threshold.toFixed(1),
        sp.status === "not_raised" ? "-" : `${sp.status}${sp.notified ? ", notified" : ""}`]),
      new Set([2, 3, 4]),
    )))
  if (report.relationships !== undefined) out.push(relationshipsText(report.relationships))
  return `${out.join("\n")}\n`
}
