// The HTML report in a real headless Chromium: it renders, draws every day, and asks for nothing from the network.
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import type { Browser, BrowserContext } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { renderListenHtml } from "../../sentiment/index.ts"
import { launchChromium } from "../support/browser.ts"
import { fixtureReport, HOSTILE_NAME } from "./listen-fixture.ts"

// The page's SVG elements, as far as the test measures them (this project compiles without the DOM library).
interface Measurable { readonly getBBox: () => { readonly height: number }; readonly getTotalLength: () => number }

const dir = mkdtempSync(join(tmpdir(), "cdp-listen-html-"))
let browser: Browser | undefined
let context: BrowserContext | undefined

beforeAll(async () => {
  // The Chromium `npm ci` installs (@sparticuz/chromium): no system browser needed, and a fresh profile per run.
  browser = await launchChromium()
  context = await browser.newContext({ viewport: { width: 1100, height: 900 } })
})

afterAll(async () => {
  await context?.close()
  await browser?.close()
  rmSync(dir, { recursive: true, force: true })
})

describe("the HTML listening report in headless Chromium", () => {
  it("renders its title and charts with one bar group and one point per day, spikes marked, and no errors", async () => {
    const report = fixtureReport(30)
    const file = join(dir, "report.html")
    writeFileSync(file, renderListenHtml(report))
    const url = pathToFileURL(file).href

    const page = await context!.newPage()
    const errors: Array<string> = []
    const requests: Array<string> = []
    page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") errors.push(m.text()) })
    page.on("pageerror", (e) => errors.push(String(e)))
    page.on("request", (r) => requests.push(r.url()))
    await page.goto(url, { waitUntil: "load" })

    expect(await page.title()).toBe("Social listening: acme, 2024-11-01 to 2024-11-30")
    expect(errors).toEqual([])
    expect(requests).toEqual([url])
    // The hostile author name is text, not a script that ran.
    expect(await page.locator("section.by-reach td", { hasText: HOSTILE_NAME }).count()).toBe(1)

    const volume = page.locator("svg.chart.volume")
    expect(await volume.locator("g.day").count()).toBe(report.days.length)
    expect(await volume.locator("g.day rect").count()).toBeGreaterThanOrEqual(report.days.length)
    expect(await volume.locator("path.spike-marker").count()).toBe(report.spikes.length)
    const box = await volume.boundingBox()
    expect(box!.width).toBeGreaterThan(500)
    expect(box!.height).toBeGreaterThan(100)
    // Bars have drawn heights that follow the data: the tallest day is the one with the most mentions.
    const heights = await volume.locator("g.day").evaluateAll((groups) =>
      groups.map((g) => [...g.querySelectorAll("rect")].reduce((h, r) => h + (r as unknown as Measurable).getBBox().height, 0)))
    const busiest = report.days.reduce((best, d, i) => (d.mentions > report.days[best]!.mentions ? i : best), 0)
    expect(heights.indexOf(Math.max(...heights))).toBe(busiest)

    const sentiment = page.locator("svg.chart.sentiment")
    expect(await sentiment.locator("circle.point.negative").count()).toBe(report.days.length)
    expect(await sentiment.locator("circle.point.positive").count()).toBe(report.days.length)
    const pathLength = await sentiment.locator("path.line.negative").evaluate((p) => (p as unknown as Measurable).getTotalLength())
    expect(pathLength).toBeGreaterThan(100)
    expect(await sentiment.locator("circle.spike-ring").count()).toBe(report.spikes.filter((s) => s.kind === "negative_spike").length)

    expect(await page.locator("svg.chart.reach path.line").count()).toBe(1)
    expect(await page.locator("svg.chart.aspects g.aspect").count()).toBe(report.aspects.length)
    expect(await page.locator("table.topics tr.topic").count()).toBe(report.topics.phrases.length)
    expect(await page.locator("table.spikes tr.spike").count()).toBe(report.spikes.length)

    const shot = join(dir, "report.png")
    await page.screenshot({ path: shot, fullPage: true })
    expect(statSync(shot).size).toBeGreaterThan(10_000)
    await page.close()
  })
})
