import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runCdp, startServe } from "../support/cli.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
let data: string
const cdp = (...args: Array<string>) => runCdp([...args, "--data-dir", data])
const ok = (r: { status: number | null; stdout: string; stderr: string }) => {
  expect(r.stderr).toBe("")
  expect(r.status).toBe(0)
  return r.stdout
}

const messages = [
  { type: "page", name: "Home", anonymousId: "a-ann", messageId: "p1", timestamp: "2024-10-01T10:00:00.000Z",
    context: { consent: { categoryPreferences: { Analytics: true, Advertising: true, Personalization: false, CrmSync: true, SocialListening: true } } } },
  { type: "identify", userId: "u-ann", anonymousId: "a-ann", messageId: "i1", timestamp: "2024-10-02T10:00:00.000Z", traits: { email: "ann.lee@x.example" } },
  { type: "track", event: "Segment Consent Preference Updated", userId: "u-ann", messageId: "c1", timestamp: "2024-10-03T10:00:00.000Z",
    context: { consent: { categoryPreferences: { Analytics: true, Advertising: false, Personalization: false, CrmSync: true, SocialListening: true } } } },
]

beforeAll(() => {
  dir = freshDir()
  data = join(dir, "data")
  const file = join(dir, "web.ndjson")
  writeFileSync(file, messages.map((m) => JSON.stringify(m)).join("\n"))
  ok(cdp("ingest", "--source", "segment", file))
}, 120_000)
afterAll(() => removeDir(dir))

describe("cdp consent show", () => {
  it("prints each purpose's state with its basis and proof, and the history, as JSON and as a table", () => {
    const view = JSON.parse(ok(cdp("consent", "show", "ann.lee@x.example", "--format", "json")))
    const by = Object.fromEntries((view.purposes as Array<{ purpose: string }>).map((p) => [p.purpose, p]))
    expect(by["Advertising"]).toMatchObject({ basis: "consent", state: "denied", allowed: false, since: { messageId: "c1", source: "segment_preference_updated", at: "2024-10-03T10:00:00.000Z" } })
    expect(by["Analytics"]).toMatchObject({ state: "granted", allowed: true })
    expect(by["SocialListening"]).toMatchObject({ basis: "legitimate_interest", state: "granted", allowed: true })
    expect(by["EmailMarketing"]).toMatchObject({ state: "unknown", allowed: true, since: null })
    expect((view.history as Array<{ purpose: string; messageId: string; state: string }>).filter((h) => h.purpose === "Advertising"))
      .toEqual([expect.objectContaining({ messageId: "c1", state: "denied" }), expect.objectContaining({ messageId: "p1", state: "granted" })])
    // The same person by another identifier: the same answer.
    expect(JSON.parse(ok(cdp("consent", "show", "user_id:u-ann", "--format", "json")))).toEqual(view)
    const table = ok(cdp("consent", "show", "user_id:u-ann"))
    expect(table).toContain(`Consent of profile ${view.profileId}`)
    expect(table).toMatch(/│ Advertising\s+│ consent\s+│ denied\s+│ no\s+│/)
    expect(table).toContain("segment_preference_updated")
  }, 60_000)

  it("shows a page of the history, newest first, with its total and how to see older ones (--limit, --cursor)", () => {
    const whole = JSON.parse(ok(cdp("consent", "show", "ann.lee@x.example", "--format", "json")))
    expect(whole.historyTotal).toBe(whole.history.length)
    expect(whole.nextCursor).toBeNull()
    const first = JSON.parse(ok(cdp("consent", "show", "ann.lee@x.example", "--limit", "2", "--format", "json")))
    expect(first.history).toEqual(whole.history.slice(0, 2))
    expect(first).toMatchObject({ historyTotal: whole.historyTotal, purposes: whole.purposes, nextCursor: expect.any(String) })
    const rest = JSON.parse(ok(cdp("consent", "show", "ann.lee@x.example", "--limit", "1000", "--cursor", first.nextCursor, "--format", "json")))
    expect([...first.history, ...rest.history]).toEqual(whole.history)
    expect(ok(cdp("consent", "show", "ann.lee@x.example", "--limit", "2"))).toContain(`Older history: cdp consent show ann.lee@x.example --cursor ${first.nextCursor}`)
    expectOneLineError(cdp("consent", "show", "ann.lee@x.example", "--limit", "0"), "--limit")
    expectOneLineError(cdp("consent", "show", "ann.lee@x.example", "--limit", "1001"), "--limit")
    expectOneLineError(cdp("consent", "show", "ann.lee@x.example", "--cursor", "nope"), "--cursor")
  }, 60_000)

  it("refuses a bad identifier or a person nobody knows in one line, and explains itself with examples", () => {
    expectOneLineError(cdp("consent", "show", "shoe:size9"), "shoe")
    expectOneLineError(cdp("consent", "show", "nobody@x.example"), "nobody@x.example")
    expectOneLineError(runCdp(["consent", "show", "user_id:u-ann", "--data-dir", data], { env: { CDP_CONSENT: '{"*":{"gpc":["Ads"]}}' } }), "CDP_CONSENT")
    const help = ok(runCdp(["consent", "show", "--help"]))
    expect(help).toMatch(/Examples:\n\s+\$ npx cdp consent show/)
    expect(help).toContain("--format")
    expect(help).toContain("--data-dir")
  }, 60_000)

  it("goes through cdp serve's GET /v1/consent/{identifier} while serve holds the data dir; the log never names the person", async () => {
    const direct = JSON.parse(ok(cdp("consent", "show", "ann.lee@x.example", "--format", "json")))
    const serve = await startServe(["--data-dir", data])
    try {
      const token = readFileSync(join(data, "admin-token"), "utf8").trim()
      const get = async (path: string, auth: string | null = `Bearer ${token}`) => {
        const res = await fetch(`${serve.url}${path}`, auth === null ? {} : { headers: { authorization: auth } })
        return { status: res.status, body: (await res.json()) as Record<string, unknown> }
      }
      expect(await get(`/v1/consent/${encodeURIComponent("email:ann.lee@x.example")}`)).toEqual({ status: 200, body: direct })
      expect(await get("/v1/consent/user_id%3Au-ann", null)).toMatchObject({ status: 401, body: { rule: "missing_token" } })
      expect(await get("/v1/consent/shoe%3Asize9")).toMatchObject({ status: 400, body: { rule: "bad_identifier", field: "/identifier" } })
      expect(await get("/v1/consent/user_id%3Au-ann?tenant=acme")).toMatchObject({ status: 404, body: { rule: "profile_not_found" } })
      expect(JSON.parse(ok(cdp("consent", "show", "user_id:u-ann", "--format", "json")))).toEqual(direct)
    } finally {
      expect(await serve.stop()).toBe(0)
    }
    expect(serve.stdout()).toContain('"path":"/v1/consent/{identifier}"')
    expect(serve.stdout()).not.toMatch(/u-ann|ann\.lee/)
  }, 120_000)
})
