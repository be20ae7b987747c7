import { describe, expect, it } from "vitest"
import { renderListenHtml, renderListenText } from "../../sentiment/index.ts"
import { fixtureReport, HOSTILE_NAME } from "./listen-fixture.ts"

describe("the listening report as text", () => {
  const text = renderListenText(fixtureReport())

  it("has a summary and a table per section", () => {
    expect(text).toMatch(/^Social listening for acme: 2024-11-01 to 2024-11-30 \(UTC\)/)
    expect(text).toContain("spam filtered 29 (deal_link 20, promo_text 12, classifier 25)")
    for (const title of ["Per day", "Aspects", "Top authors by reach", "Top authors by engagement", "Emerging topics", "Spikes"]) {
      expect(text).toContain(`\n${title}`)
    }
    expect(text).toContain("│ 2024-11-21 │")
    expect(text).toMatch(/2024-11-21 .*negative, volume/)
    expect(text).toContain("strap snapped")
    expect(text).toContain("webhook: 1 delivered, 1 failed (HTTP 500)")
  })

  it("shows an empty period without failing", () => {
    const empty = renderListenText(fixtureReport(0))
    expect(empty).toContain("(no days)")
    expect(empty).toContain("(no aspects mentioned)")
  })
})

describe("the listening report as HTML", () => {
  const html = renderListenHtml(fixtureReport())

  it("is one self-contained page: no script, no external file, font or stylesheet, and a policy that forbids them", () => {
    expect(html.startsWith("<!doctype html>")).toBe(true)
    expect(html).not.toMatch(/<script/i)
    expect(html).not.toMatch(/<[^>]*\s(?:src|href)\s*=/i)
    expect(html).not.toMatch(/url\(|@import|https?:\/\//i)
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`)
  })

  it("escapes what the public wrote (names, phrases, aspects)", () => {
    expect(html).not.toContain(HOSTILE_NAME)
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;")
    expect(html).toContain("&lt;img src=x&gt;")
    expect(html).toContain("&lt;b&gt;sizing&lt;/b&gt;")
    expect(html).toContain("Loud &amp; Proud")
  })

  it("draws one group per day and one marker per spike", () => {
    expect(html.match(/<g class="day" /g)).toHaveLength(30)
    expect(html.match(/<path class="spike-marker /g)).toHaveLength(2)
    expect(html.match(/<circle class="point negative"/g)).toHaveLength(30)
  })

  it("renders an empty period with messages instead of charts", () => {
    const empty = renderListenHtml(fixtureReport(0))
    expect(empty).toContain("No mentions in this period")
    expect(empty).toContain("No aspects mentioned")
    expect(empty).not.toContain(`<g class="day"`)
  })
})
