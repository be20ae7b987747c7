// The web channel from a real web page: analytics.js (@segment/analytics-next, default and batching modes) and
// RudderStack's browser SDK (@rudderstack/analytics-js v3), unmodified, on a page served from one origin and sending
// to the collector on another, in headless Chromium with web security on. Every event lands exactly once.
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { Effect } from "effect"
import type { Browser, Page } from "playwright-core"
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { parseAllowedOriginSpecs, withAllowedOrigins } from "../../ingest/writekeys.ts"
import { launchChromium, serveStatic, type StaticSite } from "../support/browser.ts"
import { freshDir, query, removeDir, TEST_KEYS, withCollector, WRITE_KEY } from "../support/pipeline.ts"

const require = createRequire(import.meta.url)
const packageDir = (name: string) => {
  let d = dirname(require.resolve(name))
  while (!d.endsWith(join("node_modules", name))) d = dirname(d)
  return d
}
const SEGMENT_UMD = join(packageDir("@segment/analytics-next"), "dist", "umd")
const RUDDER_UMD = join(packageDir("@rudderstack/analytics-js"), "dist", "npm", "modern", "bundled", "umd")

// The calls a website makes; each page script resolves `window.sent` once the SDK has been asked to send them all.
// The page's settings (collector URL, write key, mode) come as `window.site`.
const CALLS = `
  await sdk.identify("user-1", { plan: "pro" })
  await sdk.track("Order Completed", { total: 42 })
  await sdk.page("Shop", "Home", { path: "/" })
  await sdk.group("acme-inc", { name: "Acme" })
  await sdk.alias("user-1b", "user-1")
`
const EVENTS = 5

// analytics.js as a website installs it, pointed at this collector instead of api.segment.io; its settings are
// given inline (cdnSettings) and its chunks come from this site (cdnURL), so nothing is fetched from the internet.
const SEGMENT_PAGE = `<!doctype html><title>shop</title>
<script src="/analytics-next/bundles/index.js"></script>
<script>
  const { writeKey, mode } = window.site
  const collector = new URL(window.site.collector)
  const segment = { apiKey: writeKey, apiHost: collector.host + "/v1", protocol: "http" }
  window.sent = (async () => {
    const [sdk] = await AnalyticsNext.AnalyticsBrowser.load(
      { writeKey, cdnURL: location.origin, cdnSettings: { integrations: { "Segment.io": segment } } },
      mode === "batching"
        ? { integrations: { "Segment.io": { deliveryStrategy: { strategy: "batching", config: { size: ${EVENTS}, timeout: 500 } } } } }
        : {},
    )
    ${CALLS}
  })()
</script>`

// RudderStack's v3 SDK from its npm bundle (plugins built in), with its source configuration inline, so it fetches
// neither the control plane nor plugins from a CDN.
const RUDDER_PAGE = `<!doctype html><title>shop</title>
<script src="/rudder/index.js"></script>
<script>
  const sdk = new rudderanalytics.RudderAnalytics()
  window.sent = new Promise((resolve) => {
    sdk.load(window.site.writeKey, window.site.collector, {
      getSourceConfig: () => ({ source: { id: "web", name: "shop", enabled: true, config: {}, destinations: [] } }),
      polyfillIfRequired: false,
      plugins: ["XhrQueue"],
      onLoaded: () => resolve((async () => { ${CALLS} })()),
    })
  })
</script>`

let browser: Browser
let site: StaticSite
let dir: string

beforeAll(async () => {
  browser = await launchChromium()
  site = await serveStatic({ "/segment.html": SEGMENT_PAGE, "/rudder.html": RUDDER_PAGE }, {
    "/analytics-next/bundles/": SEGMENT_UMD,
    "/rudder/": RUDDER_UMD,
  })
})
afterAll(async () => {
  await browser?.close()
  await site?.close()
})
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

interface Traffic {
  /** Paths the page posted to on the collector, and the statuses it was answered. */
  readonly posts: Array<{ path: string; status: number; messageIds: ReadonlyArray<string> }>
  /** Every URL the page asked for: the site's and the collector's only. */
  readonly urls: Array<string>
  readonly errors: Array<string>
}

const openPage = async (collector: string, pagePath: string, mode = "default"): Promise<{ page: Page; traffic: Traffic }> => {
  const page = await browser.newPage()
  const traffic: Traffic = { posts: [], urls: [], errors: [] }
  page.on("pageerror", (e) => traffic.errors.push(String(e)))
  page.on("console", (m) => { if (m.type() === "error") traffic.errors.push(m.text()) })
  page.on("request", (r) => traffic.urls.push(r.url()))
  page.on("requestfailed", (r) => traffic.errors.push(`${r.url()}: ${r.failure()?.errorText}`))
  page.on("response", (r) => {
    if (!r.url().startsWith(collector) || r.request().method() !== "POST") return
    const body = JSON.parse(r.request().postData() ?? "{}") as { messageId?: string; batch?: Array<{ messageId: string }> }
    const messageIds = body.batch?.map((m) => m.messageId) ?? (body.messageId === undefined ? [] : [body.messageId])
    traffic.posts.push({ path: new URL(r.url()).pathname, status: r.status(), messageIds })
  })
  // The site's own configuration, as a website would inline it (kept out of the URL, which the SDKs report).
  await page.addInitScript((site) => { Object.assign(globalThis, { site }) }, { collector, writeKey: WRITE_KEY, mode })
  await page.goto(`${site.origin}${pagePath}`, { waitUntil: "load" })
  await page.evaluate("window.sent")
  return { page, traffic }
}

/** Waits (polling, bounded) until `done` holds; the SDKs send in the background after their calls return. */
const eventually = <A, E, R>(what: string, get: Effect.Effect<A, E, R>, done: (a: A) => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 300; i++) {
      const value = yield* get
      if (done(value)) return value
      yield* Effect.sleep("100 millis")
    }
    throw new Error(`timed out waiting for ${what}`)
  })

const landedOnce = (traffic: Traffic, collector: string) =>
  Effect.gen(function* () {
    yield* eventually("the SDK's events to be accepted", Effect.sync(() => traffic.posts.filter((p) => p.status === 200).flatMap((p) => p.messageIds)), (ids) => new Set(ids).size >= EVENTS)
    const sent = [...new Set(traffic.posts.flatMap((p) => p.messageIds))].sort()
    expect(sent).toHaveLength(EVENTS)
    const rows = yield* eventually("the events to land",
      query<{ message_id: string; type: string; event: string; n: string }>(
        "SELECT message_id, any(type) AS type, any(event) AS event, count() AS n FROM events GROUP BY message_id ORDER BY message_id"),
      (r) => r.length >= EVENTS)
    expect(rows.map((r) => r.message_id)).toEqual(sent)
    expect(rows.every((r) => r.n === "1")).toBe(true)
    expect(rows.map((r) => r.type).sort()).toEqual(["alias", "group", "identify", "page", "track"])
    expect(rows.find((r) => r.type === "track")?.event).toBe("Order Completed")
    // Nothing left the machine: the page spoke only to its own site and to the collector.
    expect(traffic.urls.filter((u) => !u.startsWith(site.origin) && !u.startsWith(collector))).toEqual([])
    // The write key the SDKs repeat in their bodies is not stored.
    expect(JSON.stringify(yield* query("SELECT * FROM events"))).not.toContain(WRITE_KEY)
    return rows
  })

describe("browser SDKs on a page of another origin, web security on", () => {
  it("analytics.js in its default mode lands every event exactly once through /v1/i, /v1/t, /v1/p, /v1/g, /v1/a", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const { page, traffic } = yield* Effect.promise(() => openPage(url, "/segment.html"))
        yield* landedOnce(traffic, url)
        expect([...new Set(traffic.posts.map((p) => p.path))].sort()).toEqual(["/v1/a", "/v1/g", "/v1/i", "/v1/p", "/v1/t"])
        expect(traffic.errors).toEqual([])
        yield* Effect.promise(() => page.close())
      })))

  it("analytics.js in batching mode lands every event exactly once through /v1/b", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const { page, traffic } = yield* Effect.promise(() => openPage(url, "/segment.html", "batching"))
        yield* landedOnce(traffic, url)
        expect([...new Set(traffic.posts.map((p) => p.path))]).toEqual(["/v1/b"])
        expect(traffic.errors).toEqual([])
        yield* Effect.promise(() => page.close())
      })))

  it("RudderStack's browser SDK lands every event exactly once", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const { page, traffic } = yield* Effect.promise(() => openPage(url, "/rudder.html"))
        yield* landedOnce(traffic, url)
        expect([...new Set(traffic.posts.map((p) => p.path))].sort()).toEqual(["/v1/alias", "/v1/group", "/v1/identify", "/v1/page", "/v1/track"])
        expect(traffic.errors).toEqual([])
        yield* Effect.promise(() => page.close())
      })))

  it("a page on an origin the write key does not allow is refused with 403, and nothing lands", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const { page, traffic } = yield* Effect.promise(() => openPage(url, "/segment.html"))
        yield* eventually("the SDK to be answered", Effect.sync(() => traffic.posts.length), (n) => n >= EVENTS)
        expect(traffic.posts.every((p) => p.status === 403)).toBe(true)
        // The page can read why: the refusal carries CORS headers, so the SDK sees a 403, not a network error.
        const refusal = yield* Effect.promise(() => page.evaluate(async ([collector, key]) => {
          const res = await fetch(`${collector}/v1/t`, {
            method: "POST", headers: { authorization: `Basic ${btoa(`${key}:`)}` }, body: JSON.stringify({ userId: "u", event: "E" }),
          })
          return { status: res.status, body: await res.json() }
        }, [url, WRITE_KEY] as const))
        expect(refusal).toMatchObject({ status: 403, body: { rule: "origin_not_allowed" } })
        expect(yield* query("SELECT count() AS n FROM events")).toEqual([{ n: "0" }])
        yield* Effect.promise(() => page.close())
      }), withAllowedOrigins(TEST_KEYS, parseAllowedOriginSpecs([`${WRITE_KEY}=https://shop.example`]))))
})
