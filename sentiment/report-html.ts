// The listening report as one self-contained HTML page: charts drawn here as inline SVG (no script, no external
// file, font or CDN; a Content-Security-Policy forbids loading anything), tables for authors, topics and spikes.
import type { ListenAuthor, ListenDay, ListenReport, ListenSpike } from "./listen.ts"
import { relationshipsHtml } from "./report-relations.ts"
import { esc, f1, num, pct } from "./report-format.ts"

const COLOURS = {
  positive: "#2e7d32",
  neutral: "#b0b7bf",
  negative: "#c62828",
  volume: "#ef6c00",
  reach: "#1565c0",
  engagement: "#6a1b9a",
  grid: "#e3e6ea",
  text: "#1f2933",
  muted: "#66727f",
} as const

/** Axis ticks for values up to `max`: a step of 1, 2 or 5 × 10^k (whole numbers: these are counts), about 4 ticks. */
const scale = (max: number): { readonly top: number; readonly step: number } => {
  const rough = Math.max(1, max / 4)
  const power = 10 ** Math.floor(Math.log10(rough))
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power
  return { top: Math.max(step, Math.ceil(max / step) * step), step }
}

interface Frame {
  readonly width: number
  readonly height: number
  readonly left: number
  readonly right: number
  readonly top: number
  readonly bottom: number
}

const FRAME: Frame = { width: 960, height: 240, left: 56, right: 16, top: 18, bottom: 30 }
const SMALL: Frame = { width: 470, height: 170, left: 56, right: 12, top: 14, bottom: 28 }

const plotWidth = (f: Frame) => f.width - f.left - f.right
const plotHeight = (f: Frame) => f.height - f.top - f.bottom

/** Horizontal grid lines with their values, and day labels under the plot (at most about ten). */
const axes = (f: Frame, days: ReadonlyArray<ListenDay>, max: number, format: (n: number) => string = num): string => {
  const parts: Array<string> = []
  const { step: tick } = scale(max)
  for (let value = 0; value <= max; value += tick) {
    const y = f.top + plotHeight(f) * (1 - value / max)
    parts.push(`<line class="grid" x1="${f.left}" x2="${f.width - f.right}" y1="${f1(y)}" y2="${f1(y)}"/>`)
    parts.push(`<text class="tick" x="${f.left - 6}" y="${f1(y + 4)}" text-anchor="end">${esc(format(value))}</text>`)
  }
  const step = plotWidth(f) / Math.max(1, days.length)
  const every = Math.max(1, Math.ceil(days.length / 10))
  days.forEach((d, i) => {
    if (i % every !== 0) return
    const x = f.left + step * (i + 0.5)
    parts.push(`<text class="tick" x="${f1(x)}" y="${f.height - 10}" text-anchor="middle">${esc(d.day.slice(5))}</text>`)
  })
  return parts.join("")
}

const svg = (f: Frame, cls: string, label: string, body: string): string =>
  `<svg class="chart ${cls}" viewBox="0 0 ${f.width} ${f.height}" width="${f.width}" height="${f.height}" role="img" aria-label="${esc(label)}">${body}</svg>`

const empty = (f: Frame, cls: string, label: string): string =>
  svg(f, cls, label, `<text class="empty" x="${f.width / 2}" y="${f.height / 2}" text-anchor="middle">No mentions in this period</text>`)

const spikeTitle = (s: ListenSpike): string =>
  `${s.day}: ${s.kind === "negative_spike" ? "negative mentions" : "mentions"} ${s.value}, usually ${s.median}, threshold ${s.threshold}`

/** Stacked bars per day (negative, neutral, positive) with a marker above each spike day. */
const volumeChart = (days: ReadonlyArray<ListenDay>, spikes: ReadonlyArray<ListenSpike>): string => {
  const f = FRAME
  const label = "Mentions per day by sentiment"
  if (days.length === 0) return empty(f, "volume", label)
  const max = scale(Math.max(...days.map((d) => d.mentions))).top
  const step = plotWidth(f) / days.length
  const barWidth = Math.max(1, step * 0.78)
  const y = (v: number) => f.top + plotHeight(f) * (1 - v / max)
  const parts: Array<string> = [axes(f, days, max)]
  const index = new Map(days.map((d, i) => [d.day, i]))
  days.forEach((d, i) => {
    const x = f.left + step * i + (step - barWidth) / 2
    const rects: Array<string> = []
    let base = 0
    for (const [key, value] of [["negative", d.negative], ["neutral", d.neutral], ["positive", d.positive]] as const) {
      if (value <= 0) continue
      rects.push(`<rect class="${key}" x="${f1(x)}" y="${f1(y(base + value))}" width="${f1(barWidth)}" height="${f1(y(base) - y(base + value))}"/>`)
      base += value
    }
    parts.push(
      `<g class="day" data-day="${d.day}" data-mentions="${d.mentions}"><title>${esc(
        `${d.day}: ${d.mentions} mentions (${d.positive} positive, ${d.neutral} neutral, ${d.negative} negative), ${d.spam} spam filtered`,
      )}</title>${rects.join("")}</g>`,
    )
  })
  const stacked = new Map<number, number>()
  for (const s of spikes) {
    const i = index.get(s.day)
    if (i === undefined) continue
    const x = f.left + step * (i + 0.5)
    // Two kinds of spike on one day: the second marker sits above the first.
    const below = stacked.get(i) ?? 0
    stacked.set(i, below + 1)
    const top = y(days[i]!.mentions) - 4 - below * 12
    const colour = s.kind === "negative_spike" ? "negative" : "volume"
    parts.push(
      `<path class="spike-marker ${colour}" data-day="${s.day}" data-kind="${s.kind}" d="M${f1(x)},${f1(top)} l-6,-10 h12 z"><title>${esc(spikeTitle(s))}</title></path>`,
    )
  }
  return svg(f, "volume", label, parts.join(""))
}

const linePath = (points: ReadonlyArray<readonly [number, number]>): string =>
  points.map(([x, y], i) => `${i === 0 ? "M" : "L"}${f1(x)},${f1(y)}`).join(" ")

/** Positive and negative mentions per day as lines, one point per day, negative spikes ringed. */
const sentimentChart = (days: ReadonlyArray<ListenDay>, spikes: ReadonlyArray<ListenSpike>): string => {
  const f = FRAME
  const label = "Positive and negative mentions per day"
  if (days.length === 0) return empty(f, "sentiment", label)
  const max = scale(Math.max(...days.map((d) => Math.max(d.positive, d.negative)))).top
  const step = plotWidth(f) / days.length
  const x = (i: number) => f.left + step * (i + 0.5)
  const y = (v: number) => f.top + plotHeight(f) * (1 - v / max)
  const parts: Array<string> = [axes(f, days, max)]
  for (const key of ["positive", "negative"] as const) {
    const points = days.map((d, i) => [x(i), y(d[key])] as const)
    parts.push(`<path class="line ${key}" d="${linePath(points)}"/>`)
    parts.push(`<g class="points ${key}">${days.map((d, i) =>
      `<circle class="point ${key}" data-day="${d.day}" cx="${f1(x(i))}" cy="${f1(y(d[key]))}" r="2.5"><title>${esc(`${d.day}: ${d[key]} ${key}`)}</title></circle>`
    ).join("")}</g>`)
  }
  const index = new Map(days.map((d, i) => [d.day, i]))
  for (const s of spikes) {
    const i = index.get(s.day)
    if (s.kind !== "negative_spike" || i === undefined) continue
    parts.push(`<circle class="spike-ring" data-day="${s.day}" cx="${f1(x(i))}" cy="${f1(y(days[i]!.negative))}" r="8"><title>${esc(spikeTitle(s))}</title></circle>`)
  }
  parts.push(
    `<g class="legend"><rect x="${f.left + 8}" y="${f.top}" width="10" height="10" class="positive"/><text x="${f.left + 22}" y="${f.top + 9}">positive</text>` +
      `<rect x="${f.left + 90}" y="${f.top}" width="10" height="10" class="negative"/><text x="${f.left + 104}" y="${f.top + 9}">negative</text></g>`,
  )
  return svg(f, "sentiment", label, parts.join(""))
}

/** A small area chart of one daily figure. */
const areaChart = (days: ReadonlyArray<ListenDay>, key: "reach" | "engagement", label: string): string => {
  const f = SMALL
  if (days.length === 0) return empty(f, key, label)
  const max = scale(Math.max(...days.map((d) => d[key]))).top
  const step = plotWidth(f) / days.length
  const x = (i: number) => f.left + step * (i + 0.5)
  const y = (v: number) => f.top + plotHeight(f) * (1 - v / max)
  const points = days.map((d, i) => [x(i), y(d[key])] as const)
  const line = linePath(points)
  const area = `${line} L${f1(x(days.length - 1))},${f1(y(0))} L${f1(x(0))},${f1(y(0))} Z`
  const compact = (n: number) => (n >= 10_000 ? `${Math.round(n / 1000)}k` : num(Math.round(n)))
  return svg(f, key, label, `${axes(f, days, max, compact)}<path class="area ${key}" d="${area}"/><path class="line ${key}" d="${line}"/>`)
}

/** One row per aspect: negative share to the left of the centre, positive share to the right. */
const aspectChart = (report: ListenReport): string => {
  const rows = report.aspects
  const width = 960
  const rowHeight = 30
  const labelWidth = 120
  const statsWidth = 290
  const half = (width - labelWidth - statsWidth) / 2
  const centre = labelWidth + half
  const height = 26 + rows.length * rowHeight
  const label = "Share of positive and negative mentions per aspect"
  if (rows.length === 0) {
    return `<svg class="chart aspects" viewBox="0 0 ${width} 60" width="${width}" height="60" role="img" aria-label="${label}"><text class="empty" x="${width / 2}" y="34" text-anchor="middle">No aspects mentioned</text></svg>`
  }
  const parts: Array<string> = [
    `<text class="tick" x="${f1(centre - half)}" y="14">100% negative</text>`,
    `<text class="tick" x="${f1(centre + half)}" y="14" text-anchor="end">100% positive</text>`,
    `<line class="axis" x1="${f1(centre)}" x2="${f1(centre)}" y1="20" y2="${height}"/>`,
  ]
  rows.forEach((a, i) => {
    const top = 24 + i * rowHeight
    const neg = a.negativeShare * half
    const pos = a.positiveShare * half
    parts.push(
      `<g class="aspect" data-aspect="${esc(a.aspect)}"><title>${esc(
        `${a.aspect}: ${a.mentions} mentions, ${pct(a.positiveShare)} positive, ${pct(a.negativeShare)} negative, average ${a.avgScore}`,
      )}</title>` +
        `<text x="${labelWidth - 10}" y="${top + 17}" text-anchor="end" class="label">${esc(a.aspect)}</text>` +
        `<rect class="track" x="${f1(centre - half)}" y="${top + 4}" width="${f1(2 * half)}" height="18"/>` +
        (neg > 0 ? `<rect class="negative" x="${f1(centre - neg)}" y="${top + 4}" width="${f1(neg)}" height="18"/>` : "") +
        (pos > 0 ? `<rect class="positive" x="${f1(centre)}" y="${top + 4}" width="${f1(pos)}" height="18"/>` : "") +
        `<text x="${width - statsWidth + 10}" y="${top + 17}" class="stats">${esc(
          `${num(a.mentions)} · ${pct(a.negativeShare)} neg · ${pct(a.positiveShare)} pos · avg ${a.avgScore.toFixed(2)}`,
        )}</text></g>`,
    )
  })
  return `<svg class="chart aspects" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${label}">${parts.join("")}</svg>`
}

const authorTable = (title: string, cls: string, authors: ReadonlyArray<ListenAuthor>): string =>
  `<section class="authors ${cls}"><h3>${esc(title)}</h3>` + (authors.length === 0
    ? `<p class="none">No authors in this period.</p>`
    : `<table><thead><tr><th>handle</th><th>name</th><th class="n">followers</th><th class="n">mentions</th><th class="n">engagement</th></tr></thead><tbody>${
      authors.map((a) =>
        `<tr><td>${esc(a.handle)}</td><td>${esc(a.name ?? "")}</td><td class="n">${num(a.followers)}</td><td class="n">${num(a.mentions)}</td><td class="n">${num(a.engagement)}</td></tr>`
      ).join("")
    }</tbody></table>`) + `</section>`

const topicsTable = (report: ListenReport): string => {
  const phrases = report.topics.phrases
  if (phrases.length === 0) return `<p class="none">No emerging topics.</p>`
  const max = Math.max(...phrases.map((p) => p.score), 0) || 1
  return `<table class="topics"><thead><tr><th>phrase</th><th>score</th><th class="n">mentions</th><th class="n">before</th><th>related</th></tr></thead><tbody>${
    phrases.map((p) =>
      `<tr class="topic"><td>${esc(p.phrase)}</td><td><span class="bar" style="width:${f1(Math.max(0, p.score / max) * 160)}px"></span> ${esc(p.score.toFixed(3))}</td>` +
      `<td class="n">${num(p.mentions)}</td><td class="n">${num(p.previousMentions)}</td><td class="related">${esc(p.related.join(", "))}</td></tr>`
    ).join("")
  }</tbody></table>`
}

const spikesTable = (report: ListenReport): string => {
  if (report.spikes.length === 0) return `<p class="none">No spikes in this period.</p>`
  return `<table class="spikes"><thead><tr><th>day</th><th>kind</th><th class="n">value</th><th class="n">usual</th><th class="n">threshold</th><th>alert</th></tr></thead><tbody>${
    report.spikes.map((s) =>
      `<tr class="spike ${s.kind}"><td>${esc(s.day)}</td><td>${s.kind === "negative_spike" ? "negative mentions" : "all mentions"}</td>` +
      `<td class="n">${num(s.value)}</td><td class="n">${num(s.median)}</td><td class="n">${esc(s.threshold.toFixed(1))}</td>` +
      `<td>${s.status === "not_raised" ? "not raised" : `${esc(s.status)}${s.notified ? ", notified" : ""}`}</td></tr>`
    ).join("")
  }</tbody></table>`
}

const card = (label: string, value: string, cls = ""): string =>
  `<div class="card ${cls}"><div class="value">${esc(value)}</div><div class="label">${esc(label)}</div></div>`

const STYLE = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: ${COLOURS.text}; background: #f6f7f9; }
main { max-width: 1000px; margin: 0 auto; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
h3 { font-size: 15px; margin: 12px 0 6px; }
.sub, .note { color: ${COLOURS.muted}; margin: 0 0 12px; }
.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 16px 0; }
.card { background: #fff; border: 1px solid ${COLOURS.grid}; border-radius: 8px; padding: 10px 14px; }
.card .value { font-size: 22px; font-weight: 600; }
.card .label { color: ${COLOURS.muted}; font-size: 12px; }
.card.positive .value { color: ${COLOURS.positive}; } .card.negative .value { color: ${COLOURS.negative}; }
.panel { background: #fff; border: 1px solid ${COLOURS.grid}; border-radius: 8px; padding: 12px; overflow-x: auto; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 10px; }
svg.chart { display: block; max-width: 100%; height: auto; }
svg text { font-size: 11px; fill: ${COLOURS.text}; }
svg .tick { fill: ${COLOURS.muted}; }
svg .grid { stroke: ${COLOURS.grid}; stroke-width: 1; }
svg .axis { stroke: ${COLOURS.muted}; stroke-width: 1; }
svg .empty { fill: ${COLOURS.muted}; font-size: 14px; }
svg rect.positive, svg .legend .positive { fill: ${COLOURS.positive}; }
svg rect.neutral { fill: ${COLOURS.neutral}; }
svg rect.negative, svg .legend .negative { fill: ${COLOURS.negative}; }
svg rect.track { fill: #f0f2f4; }
svg .line { fill: none; stroke-width: 2; }
svg .line.positive { stroke: ${COLOURS.positive}; } svg .line.negative { stroke: ${COLOURS.negative}; }
svg circle.point.positive { fill: ${COLOURS.positive}; } svg circle.point.negative { fill: ${COLOURS.negative}; }
svg .line.reach { stroke: ${COLOURS.reach}; } svg .area.reach { fill: ${COLOURS.reach}; opacity: 0.15; }
svg .line.engagement { stroke: ${COLOURS.engagement}; } svg .area.engagement { fill: ${COLOURS.engagement}; opacity: 0.15; }
svg .spike-marker.negative { fill: ${COLOURS.negative}; } svg .spike-marker.volume { fill: ${COLOURS.volume}; }
svg .spike-ring { fill: none; stroke: ${COLOURS.negative}; stroke-width: 2; }
svg .stats { fill: ${COLOURS.muted}; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid ${COLOURS.grid}; vertical-align: top; }
th { font-weight: 600; color: ${COLOURS.muted}; font-size: 12px; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.bar { display: inline-block; height: 10px; background: ${COLOURS.reach}; border-radius: 2px; vertical-align: middle; }
.related { color: ${COLOURS.muted}; }
tr.spike.negative_spike td:first-child { border-left: 3px solid ${COLOURS.negative}; }
tr.spike.volume_spike td:first-child { border-left: 3px solid ${COLOURS.volume}; }
.legend-row span { display: inline-block; margin-right: 14px; color: ${COLOURS.muted}; font-size: 12px; }
.legend-row i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
.none { color: ${COLOURS.muted}; }
footer { margin-top: 28px; color: ${COLOURS.muted}; font-size: 12px; }
@media (max-width: 800px) { .cards { grid-template-columns: repeat(2, 1fr); } .pair { grid-template-columns: 1fr; } }
`

export const renderListenHtml = (report: ListenReport): string => {
  const lastDay = report.days.at(-1)?.day ?? report.until.slice(0, 10)
  const period = `${report.since.slice(0, 10)} to ${lastDay}`
  const title = `Social listening: ${report.tenant}, ${period}`
  const s = report.sentiment
  const reasons = Object.entries(report.mentions.spamReasons).map(([r, n]) => `${r} ${n}`).join(", ")
  const a = report.alerts
  const alertNote = !a.enabled
    ? "Alerts were not raised for this report."
    : `${a.raised} new alert(s), ${a.existing} raised before.` + (a.webhook.configured
      ? ` Webhook: ${a.webhook.delivered} delivered, ${a.webhook.failed} failed${a.webhook.errors.length === 0 ? "" : ` (${[...new Set(a.webhook.errors)].join(", ")})`}.`
      : " No webhook configured.")
  const t = report.topics
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<header>
<h1>${esc(title)}</h1>
<p class="sub">Social mentions (UTC days), spam excluded. Generated ${esc(report.generatedAt.slice(0, 16).replace("T", " "))} UTC${report.brand.length === 0 ? "" : ` for ${esc(report.brand.join(", "))}`}.</p>
</header>
<section class="cards">
${card("mentions", num(report.mentions.total))}
${card("spam filtered", num(report.mentions.spamFiltered))}
${card("authors", num(report.mentions.authors))}
${card("reach (followers)", num(report.reach))}
${card("positive", `${pct(s.positiveShare)} (${num(s.positive)})`, "positive")}
${card("negative", `${pct(s.negativeShare)} (${num(s.negative)})`, "negative")}
${card("impressions", num(report.impressions))}
${card("engagement", num(report.engagement))}
</section>
${reasons === "" ? "" : `<p class="note">Spam signals among the filtered mentions: ${esc(reasons)}.</p>`}

<h2>Volume and sentiment per day</h2>
<div class="panel">
<p class="legend-row"><span><i style="background:${COLOURS.positive}"></i>positive</span><span><i style="background:${COLOURS.neutral}"></i>neutral</span><span><i style="background:${COLOURS.negative}"></i>negative</span><span style="color:${COLOURS.negative}">▼ negative spike</span><span style="color:${COLOURS.volume}">▼ volume spike</span></p>
${volumeChart(report.days, report.spikes)}
</div>
<h2>Positive and negative mentions</h2>
<div class="panel">${sentimentChart(report.days, report.spikes)}</div>
<div class="pair">
<div><h2>Reach (followers of authors)</h2><div class="panel">${areaChart(report.days, "reach", "Reach per day")}</div></div>
<div><h2>Engagement</h2><div class="panel">${areaChart(report.days, "engagement", "Engagement per day")}</div></div>
</div>

<h2>Aspects</h2>
<div class="panel">${aspectChart(report)}</div>

<h2>Spikes</h2>
<p class="note">A day is a spike when it exceeds the median of the ${report.settings.baselineDays} days before it by ${report.settings.k} × their spread (and has at least ${report.settings.minCount} mentions). ${esc(alertNote)}</p>
${spikesTable(report)}

<h2>Emerging topics</h2>
<p class="note">${esc(`${t.since.slice(0, 10)} to ${lastDay}, against ${t.previousSince.slice(0, 10)} to ${t.since.slice(0, 10)}`)} (TF-IDF, brand names and stop words left out).</p>
${topicsTable(report)}

<h2>Top authors</h2>
<div class="pair">
${authorTable("By reach", "by-reach", report.topAuthors.byReach)}
${authorTable("By engagement", "by-engagement", report.topAuthors.byEngagement)}
</div>
${report.relationships === undefined ? "" : relationshipsHtml(report.relationships)}
<footer>cdp social listening · tenant ${esc(report.tenant)} · ${esc(report.since)} to ${esc(report.until)} (end exclusive)</footer>
</main>
</body>
</html>
`
}
