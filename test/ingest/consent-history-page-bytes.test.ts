// GET /v1/consent/{identifier} ends a page of the history before about 1 MB of JSON, whatever ?limit= (up to 1000)
// says, as the audience and DSR lists do: each entry keeps its proof, what the message said (up to a message's 32 KB),
// and one message changes several purposes, so a page of 1,000 entries could answer about 30 MB. Following the cursors
// still gives each entry once, newest first.
import { Effect } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { basicAuth, freshDir, removeDir, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const CONSENT = "/v1/consent/user_id%3Aann?tenant=acme"
type Entry = { readonly messageId: string; readonly purpose: string; readonly proof: string }

it("a page of the consent history ends before about 1 MB of JSON and the cursor goes on from the last entry shown", () =>
  withApi(dir, (url) => Effect.gen(function* () {
    // 20 preference updates, each naming 150 categories of a site's own besides three known ones: about 20 KB of
    // preferences, kept as the proof of every purpose the message changes.
    const own = Object.fromEntries(Array.from({ length: 150 }, (_, k) => [`site_category_${String(k).padStart(3, "0")}_${"c".repeat(110)}`, true]))
    const batch = Array.from({ length: 20 }, (_, i) => ({
      type: "track", event: "Segment Consent Preference Updated", userId: "ann", messageId: `c${i}`,
      timestamp: new Date(Date.UTC(2024, 0, 1 + i)).toISOString(),
      context: { consent: { categoryPreferences: { Analytics: true, Advertising: i % 2 === 0, Personalization: i % 3 === 0, ...own } } },
    }))
    for (const m of batch) {
      const status = yield* Effect.promise(() => fetch(`${url}/v1/batch`, {
        method: "POST", headers: { authorization: basicAuth(WRITE_KEY), "content-type": "application/json" }, body: JSON.stringify({ batch: [m] }),
      }).then((r) => r.status))
      expect(status).toBe(200)
    }
    let total = -1
    for (let i = 0; i < 200; i++) {
      const r = yield* callApi(url, "GET", `${CONSENT}&limit=1`, TEST_ADMIN_TOKEN)
      const seen = r.status === 200 ? Number(r.body["historyTotal"]) : -1
      if (seen >= 40 && seen === total) break
      total = seen
      yield* Effect.sleep("200 millis")
    }
    expect(total).toBeGreaterThanOrEqual(40)

    const walked: Array<Entry> = []
    const pages: Array<number> = []
    let cursor: string | null = null
    for (let guard = 0; guard < 100; guard++) {
      const page: { status: number; body: Record<string, unknown> } = yield* callApi(url, "GET",
        `${CONSENT}&limit=1000${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`, TEST_ADMIN_TOKEN)
      checkResponse("/v1/consent/{identifier}", "GET", page.status, page.body)
      expect(page.status).toBe(200)
      expect(page.body["historyTotal"]).toBe(total)
      const history = page.body["history"] as Array<Entry>
      expect(history.length).toBeGreaterThan(0)
      walked.push(...history)
      pages.push(JSON.stringify(page.body).length)
      cursor = page.body["nextCursor"] as string | null
      if (cursor === null) break
    }
    expect(walked).toHaveLength(total)
    expect(new Set(walked.map((e) => `${e.messageId}/${e.purpose}`)).size).toBe(total)
    expect(walked[0]!.messageId).toBe("c19")
    expect(walked.every((e) => e.proof.length > 20_000)).toBe(true)
    expect(pages.length, `page sizes ${pages.join(", ")}`).toBeGreaterThan(1)
    for (const size of pages) expect(size).toBeLessThan(1.1 * 1024 * 1024)
  })), 120_000)
