// The listening report's section on relationships: profiles per relationship type at the end of each period of the
// report, and the movements between types. The figures come from relational intelligence (the CLI attaches them when
// the tenant has relationship scores); this module only draws them, as text and as inline SVG.
import Table from "cli-table3"
import { esc, f1, num } from "./report-format.ts"

export interface ListenTypeMovement {
  readonly from: string
  readonly to: string
  readonly profiles: number
}

/** What the report shows of relationships (the shape of identity's relation series). */
export interface ListenRelationships {
  readonly every: string
  readonly types: ReadonlyArray<string>
  readonly periods: ReadonlyArray<{
    readonly start: string
    readonly end: string
    readonly source: "stored" | "computed" | "missing"
    readonly asOf: string | null
    readonly profiles: number
    readonly byType: Readonly<Record<string, number>>
    /** The date the movements count from (null: no earlier scores to compare with). */
    readonly since: string | null
    readonly movements: ReadonlyArray<ListenTypeMovement>
  }>
  readonly movements: ReadonlyArray<ListenTypeMovement>
}

/** Movements listed in the report. */
const TOP_MOVEMENTS = 10

const TYPE_COLOURS: Readonly<Record<string, string>> = {
  advocate: "#2e7d32",
  loyal_quiet: "#81c784",
  love_hate: "#8e24aa",
  new: "#1565c0",
  distant: "#b0b7bf",
  at_risk: "#ef6c00",
  detractor: "#c62828",
}
const colourOf = (type: string) => TYPE_COLOURS[type] ?? "#546e7a"

type Period = ListenRelationships["periods"][number]
const changed = (p: Period) => p.movements.reduce((n, m) => n + m.profiles, 0)
/** Profiles that changed type, blank when there was nothing to compare with. */
const changedCell = (p: Period) => (p.source === "missing" || p.since === null ? "" : num(changed(p)))

/** One stacked bar per period (types in the series' order, bottom up), its profiles above it. */
const stackedBars = (r: ListenRelationships): string => {
  const width = 960
  const height = 240
  const left = 56
  const right = 16
  const top = 18
  const bottom = 30
  const plotW = width - left - right
  const plotH = height - top - bottom
  const max = Math.max(1, ...r.periods.map((p) => p.profiles))
  const step = plotW / Math.max(1, r.periods.length)
  const barWidth = Math.max(2, Math.min(80, step * 0.7))
  const y = (v: number) => top + plotH * (1 - v / max)
  const every = Math.max(1, Math.ceil(r.periods.length / 12))
  const parts: Array<string> = [
    `<line class="grid" x1="${left}" x2="${width - right}" y1="${f1(y(0))}" y2="${f1(y(0))}"/>`,
    `<line class="grid" x1="${left}" x2="${width - right}" y1="${f1(y(max))}" y2="${f1(y(max))}"/>`,
    `<text class="tick" x="${left - 6}" y="${f1(y(0) + 4)}" text-anchor="end">0</text>`,
    `<text class="tick" x="${left - 6}" y="${f1(y(max) + 4)}" text-anchor="end">${esc(num(max))}</text>`,
  ]
  r.periods.forEach((p, i) => {
    const x = left + step * i + (step - barWidth) / 2
    const rects: Array<string> = []
    let base = 0
    for (const type of r.types) {
      const n = p.byType[type] ?? 0
      if (n <= 0) continue
      rects.push(
        `<rect class="rel-type" data-type="${esc(type)}" data-profiles="${n}" fill="${colourOf(type)}" x="${f1(x)}" y="${f1(y(base + n))}" width="${f1(barWidth)}" height="${f1(y(base) - y(base + n))}"><title>${esc(`${p.end}: ${n} ${type}`)}</title></rect>`,
      )
      base += n
    }
    const label = p.source === "missing" ? `${p.end}: no scores`
      : `${p.end}: ${p.profiles} profiles (as of ${p.asOf}, ${p.source})${p.since === null ? "" : `, ${changed(p)} changed type since ${p.since}`}`
    parts.push(`<g class="rel-period" data-end="${p.end}" data-profiles="${p.profiles}" data-source="${p.source}"><title>${esc(label)}</title>${rects.join("")}</g>`)
    if (i % every === 0) {
      parts.push(`<text class="tick" x="${f1(x + barWidth / 2)}" y="${height - 10}" text-anchor="middle">${esc(p.end.slice(5))}</text>`)
    }
  })
  return `<svg class="chart relationships" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="Profiles per relationship type at the end of each period">${parts.join("")}</svg>`
}

const distributionTable = (r: ListenRelationships): string =>
  `<table class="rel-distribution"><thead><tr><th>period end</th><th>as of</th>${r.types.map((t) => `<th class="n">${esc(t)}</th>`).join("")}<th class="n">profiles</th><th class="n">changed type</th></tr></thead><tbody>${
    r.periods.map((p) =>
      `<tr class="rel-row" data-end="${p.end}"><td>${esc(p.end)}</td><td>${p.asOf === null ? "no scores" : `${esc(p.asOf)}${p.source === "computed" ? " (computed)" : ""}`}</td>` +
      r.types.map((t) => `<td class="n" data-type="${esc(t)}">${p.source === "missing" ? "" : num(p.byType[t] ?? 0)}</td>`).join("") +
      `<td class="n">${p.source === "missing" ? "" : num(p.profiles)}</td><td class="n">${changedCell(p)}</td></tr>`
    ).join("")
  }</tbody></table>`

const compared = (r: ListenRelationships) => r.periods.some((p) => p.since !== null)
const NO_MOVEMENTS = (r: ListenRelationships) =>
  compared(r) ? "No profile changed type in this period." : "No earlier scores to compare with: no movements yet."

const movementsTable = (r: ListenRelationships): string =>
  r.movements.length === 0 ? `<p class="none">${NO_MOVEMENTS(r)}</p>`
    : `<table class="rel-movements"><thead><tr><th>from</th><th>to</th><th class="n">profiles</th></tr></thead><tbody>${
      r.movements.slice(0, TOP_MOVEMENTS).map((m) =>
        `<tr class="rel-movement" data-from="${esc(m.from)}" data-to="${esc(m.to)}"><td>${esc(m.from)}</td><td>${esc(m.to)}</td><td class="n">${num(m.profiles)}</td></tr>`
      ).join("")
    }</tbody></table>`

/** The HTML section: stacked bars per period, the table of counts, and the top movements. */
export const relationshipsHtml = (r: ListenRelationships): string =>
  `<section class="relationships">
<h2>Relationships</h2>
<p class="note">Profiles per relationship type at the end of each ${esc(r.every)} (from the stored runs of cdp relations compute), and how many changed type since the period before ("none": not scored before).</p>
<div class="panel">
<p class="legend-row">${r.types.map((t) => `<span><i style="background:${colourOf(t)}"></i>${esc(t)}</span>`).join("")}</p>
${stackedBars(r)}
</div>
${distributionTable(r)}
<h3>Top movements between types</h3>
${movementsTable(r)}
</section>`

/** The text section: one row per period with its counts per type, then the top movements. */
export const relationshipsText = (r: ListenRelationships): string => {
  const dist = new Table({
    head: ["period end", "as of", ...r.types, "profiles", "changed"],
    style: { head: [], border: [], compact: true },
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  })
  for (const p of r.periods) {
    dist.push(p.source === "missing"
      ? [p.end, "no scores", ...r.types.map(() => ""), "", ""]
      : [p.end, `${p.asOf}${p.source === "computed" ? " (computed)" : ""}`, ...r.types.map((t) => num(p.byType[t] ?? 0)), num(p.profiles), changedCell(p)])
  }
  const moves = r.movements.length === 0 ? `(${NO_MOVEMENTS(r)})` : (() => {
    const t = new Table({ head: ["from", "to", "profiles"], style: { head: [], border: [], compact: true }, chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" } })
    for (const m of r.movements.slice(0, TOP_MOVEMENTS)) t.push([m.from, m.to, num(m.profiles)])
    return t.toString()
  })()
  return `\nRelationships (profiles per type at the end of each ${r.every})\n${dist.toString()}\n\nTop movements between types\n${moves}`
}
