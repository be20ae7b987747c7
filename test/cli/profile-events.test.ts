// `cdp profile events`, run as the real command over data landed by `cdp ingest`: pages through a profile's timeline
// with the cursor it prints, filters it, refuses bad flags in one line naming the flag, and goes through a real
// `cdp serve` (GET /v1/profiles/{identifier}/events, checked against ingest/openapi.json) while it holds the data dir.
// The data is landed once for the file (each cdp process costs seconds): the first test only reads it, the second
// (whose server writes its token into the data dir) works on its own copy.
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest"
import { runCdp, startServe } from "../support/cli.ts"
import { checkResponse } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { copyDataDir } from "../support/seeded-dir.ts"

/** The file's: what seed() landed, never changed after seeding. */
let root: string
let seeded: string
/** The test's own. */
let dir: string
let data: string
beforeAll(() => {
  root = freshDir()
  seeded = join(root, "seeded")
  seed()
}, 120_000)
afterAll(() => removeDir(root))
beforeEach(() => {
  dir = freshDir()
  data = join(dir, "data")
})
afterEach(() => removeDir(dir))

const WEB = [
  { type: "identify", messageId: "w-1", anonymousId: "anon-ann", userId: "u-ann", timestamp: "2024-09-01T10:05:00.000Z", traits: { email: "ann@x.example" } },
  { type: "page", name: "Home", messageId: "w-2", userId: "u-ann", timestamp: "2024-09-01T10:06:00.000Z" },
  { type: "track", event: "Order Completed", messageId: "w-3", userId: "u-ann", timestamp: "2024-09-02T09:00:00.000Z", properties: { total: 42 } },
  { type: "track", event: "Order Completed", messageId: "w-4", userId: "u-ann", timestamp: "2024-09-03T09:00:00.000Z", properties: { total: 7 } },
  { type: "track", event: "Viewed", messageId: "w-5", userId: "u-ann", timestamp: "2024-09-04T09:00:00.000Z" },
  { type: "identify", messageId: "w-bob", userId: "u-bob", timestamp: "2024-09-03T09:00:00.000Z", traits: { email: "bob@z.example" } },
]
const SENDGRID = [{ email: "ann@x.example", timestamp: 1725350400, event: "open", sg_event_id: "sg-open-1", sg_message_id: "msg-1.recvd-1" }]

/** On the data dir the test reads: the file's seeded one, or the test's own copy. */
let on = ""
const cdp = (...args: ReadonlyArray<string>) => runCdp([...args, "--data-dir", on])

const ingest = (source: string, name: string, content: string) => {
  const file = join(root, name)
  writeFileSync(file, content)
  const r = runCdp(["ingest", "--source", source, file, "--data-dir", seeded])
  expect(r.status, r.stderr).toBe(0)
}

const page = (...args: ReadonlyArray<string>) => {
  const r = cdp("profile", "events", ...args, "--format", "json")
  expect(r.status, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as { profileId: string; events: Array<{ messageId: string; channel: string; event: string }>; nextCursor: string | null }
}

const seed = () => {
  ingest("segment", "web.ndjson", WEB.map((m) => JSON.stringify(m)).join("\n"))
  ingest("sendgrid", "sg.json", JSON.stringify(SENDGRID))
}

describe("cdp profile events", () => {
  it("pages newest first with the cursor it prints, filters by channel, event and time, and refuses bad flags naming them", () => {
    on = seeded
    const first = page("email:ann@x.example", "--limit", "2")
    expect(first.events.map((e) => e.messageId)).toEqual(["w-5", "w-4"])
    const rest = page("email:ann@x.example", "--limit", "10", "--cursor", first.nextCursor!)
    // The SendGrid open (2024-09-03T08:00Z) sits between the web events by event time.
    expect(rest.events.map((e) => e.messageId)).toEqual(["sg-open-1", "w-3", "w-2", "w-1"])
    expect(rest.nextCursor).toBeNull()
    expect(page("user_id:u-ann", "--channel", "email").events.map((e) => e.channel)).toEqual(["email"])
    expect(page("user_id:u-ann", "--event", "Order Completed", "--until", "2024-09-03").events.map((e) => e.messageId)).toEqual(["w-3"])
    expect(page("user_id:u-ann", "--since", "2024-09-03T00:00:00Z").events.map((e) => e.messageId)).toEqual(["w-5", "w-4", "sg-open-1"])

    // `cdp profile show` carries consent per purpose and the timeline's first page, whose cursor pages on here.
    const shown = cdp("profile", "show", "user_id:u-ann", "--events", "2", "--format", "json")
    expect(shown.status, shown.stderr).toBe(0)
    const profile = JSON.parse(shown.stdout) as { consent: { purposes: Array<{ purpose: string }> }; timeline: { events: Array<{ messageId: string }>; nextCursor: string } }
    expect(profile.consent.purposes.map((c) => c.purpose)).toContain("EmailMarketing")
    expect(profile.timeline.events.map((e) => e.messageId)).toEqual(["w-5", "w-4"])
    expect(page("user_id:u-ann", "--limit", "1", "--cursor", profile.timeline.nextCursor).events.map((e) => e.messageId)).toEqual(["sg-open-1"])

    const table = cdp("profile", "events", "user_id:u-ann", "--limit", "1")
    expect(table.status, table.stderr).toBe(0)
    expect(table.stdout).toContain("w-5")
    expect(table.stdout).toMatch(/next page: cdp profile events user_id:u-ann --cursor \S+/)

    for (const [flags, field] of [[["--limit", "0"], "limit"], [["--cursor", "zzz"], "cursor"], [["--channel", "Web!"], "channel"], [["--since", "soon"], "since"]] as const) {
      const r = cdp("profile", "events", "user_id:u-ann", ...flags)
      expect(r.status).toBe(1)
      expect(r.stderr.trim().split("\n")).toHaveLength(1)
      expect(r.stderr).toContain(`${field}:`)
      expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/)
    }
    const nobody = cdp("profile", "events", "user_id:nobody")
    expect(nobody.status).toBe(1)
    expect(nobody.stderr).toMatch(/no profile/)
  }, 120_000)

  it("goes through a running cdp serve, whose answers match ingest/openapi.json", async () => {
    on = copyDataDir(seeded, data)
    const direct = page("user_id:u-ann", "--limit", "3")
    // `cdp profile show` on the data dir prints the timeline cursor the route gives (bound to the profile and tenant).
    const shown = JSON.parse(cdp("profile", "show", "user_id:u-ann", "--events", "2", "--format", "json").stdout) as { timeline: { nextCursor: string } }
    const serve = await startServe(["--data-dir", data])
    try {
      const viaServer = page("user_id:u-ann", "--limit", "3")
      expect(viaServer).toEqual(direct)
      expect(page("user_id:u-ann", "--limit", "1", "--cursor", shown.timeline.nextCursor).events.map((e) => e.messageId)).toEqual(["sg-open-1"])
      expect(page("user_id:u-ann", "--limit", "10", "--cursor", viaServer.nextCursor!).events.map((e) => e.messageId))
        .toEqual(page("user_id:u-ann", "--limit", "10", "--cursor", direct.nextCursor!).events.map((e) => e.messageId))
      expect(page("user_id:u-ann", "--channel", "email", "--channel", "web", "--event", "Order Completed").events.map((e) => e.messageId)).toEqual(["w-4", "w-3"])
      const bad = cdp("profile", "events", "user_id:u-ann", "--until", "2024-13-01")
      expect(bad.status).toBe(1)
      expect(bad.stderr).toContain("until:")

      const token = readFileSync(join(data, "admin-token"), "utf8").trim()
      for (const [path, status] of [
        ["/v1/profiles/user_id%3Au-ann/events?limit=2", 200],
        ["/v1/profiles/user_id%3Au-ann", 200],
        ["/v1/profiles/user_id%3Au-ann/events?since=x", 400],
        ["/v1/profiles/user_id%3Anobody/events", 404],
        ["/v1/consent/user_id%3Au-ann", 200],
      ] as const) {
        const res = await fetch(`${serve.url}${path}`, { headers: { authorization: `Bearer ${token}` } })
        expect(res.status, path).toBe(status)
        const template = path.startsWith("/v1/consent/") ? "/v1/consent/{identifier}"
          : path.includes("/events") ? "/v1/profiles/{identifier}/events" : "/v1/profiles/{identifier}"
        checkResponse(template, "GET", res.status, await res.json())
      }
      // The served log names the route, never the identifier.
      expect(serve.stdout()).not.toContain("u-ann")
    } finally {
      expect(await serve.stop()).toBe(0)
    }
  }, 60_000)
})
