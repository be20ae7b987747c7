// `cdp profile show`, `cdp identity explain|rebuild|suggestions` and GET /v1/profiles/{identifier}, run as the real
// commands over data landed by `cdp ingest` from the web, SendGrid and a contact centre.
// The data is landed once for the file (each cdp process costs seconds) and never changed after: each test works on
// a copy of its own (a data dir is one process's at a time), so the tests run at once (it.concurrent, with the test
// context's expect): each is cdp processes one after another, which wait on their engine as much as they compute.
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { startServe } from "../support/cli.ts"
import { type CdpResult, runCdpAsync as runCdp } from "../support/cli-async.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { copyDataDir } from "../support/seeded-dir.ts"

/** The file's: what seed() landed, copied by the tests but never changed after seeding. */
let root: string
let seeded: string
const dirs: Array<string> = []
beforeAll(async () => {
  root = freshDir()
  seeded = join(root, "seeded")
  await seed()
}, 120_000)
afterAll(() => {
  removeDir(root)
  dirs.forEach(removeDir)
})

/** A test's own directory: `data` is a path in it, made by the test (a copy of seeded, or by a command). */
const own = () => {
  const dir = freshDir()
  dirs.push(dir)
  const data = join(dir, "data")
  return {
    dir, data,
    /** On this test's own data dir. */
    cdp: (...args: ReadonlyArray<string>) => runCdp([...args, "--data-dir", data]),
    /** This test's own copy of what seed() landed. */
    seededCopy: () => copyDataDir(seeded, data),
  }
}

/** For a test that only reads what seed() landed: commands on a copy of it of its own. */
const seededReader = () => {
  const { data, seededCopy } = own()
  seededCopy()
  return (...args: ReadonlyArray<string>) => runCdp([...args, "--data-dir", data])
}

const WEB = [
  { type: "page", name: "Home", messageId: "web-page-1", anonymousId: "anon-ann", timestamp: "2024-09-01T10:00:00.000Z" },
  {
    type: "identify", messageId: "web-identify-1", anonymousId: "anon-ann", userId: "u-ann", timestamp: "2024-09-01T10:05:00.000Z",
    traits: { email: "Ann.Lee@X.example", phone: "+44 7700 900123", name: "Ann Lee", plan: "free" },
  },
  { type: "track", event: "Order Completed", messageId: "web-order-1", userId: "u-ann", timestamp: "2024-09-02T09:00:00.000Z", properties: { total: 42 } },
  { type: "identify", messageId: "web-identify-2", userId: "u-ann", timestamp: "2024-09-05T09:00:00.000Z", traits: { plan: "pro" } },
  // Another account of (probably) the same person, and somebody else.
  { type: "identify", messageId: "web-identify-3", userId: "u-ann2", timestamp: "2024-09-03T09:00:00.000Z", traits: { email: "ann.lee@y.example", name: "Ann Lee" } },
  { type: "identify", messageId: "web-identify-4", userId: "u-bob", timestamp: "2024-09-03T09:00:00.000Z", traits: { email: "bob@z.example", first_name: "Bob", last_name: "Stone" } },
]
const SENDGRID = [{ email: "ann.lee@x.example", timestamp: 1725350400, event: "open", sg_event_id: "sg-open-1", sg_message_id: "msg-1.recvd-1" }]
const CALLS = "call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes\r\n" +
  'CA-ann-1,2024-09-04T12:00:00Z,120,inbound,+447700900123,Riley Chen,Billing,resolved,"Thanks, the refund was quick and the agent was lovely."\r\n'

const ingest = async (into: string, source: string, file: string, content: string, tenant = "default") => {
  writeFileSync(file, content)
  const r = await runCdp(["ingest", "--source", source, file, "--tenant", tenant, "--data-dir", into])
  expect(r.status, r.stderr).toBe(0)
}

/** Ann browses, signs up, buys, opens a mail and calls; Ann's second account and Bob sign up too. */
const seed = async () => {
  await ingest(seeded, "segment", join(root, "web.ndjson"), WEB.map((m) => JSON.stringify(m)).join("\n"))
  await ingest(seeded, "sendgrid", join(root, "sendgrid.json"), JSON.stringify(SENDGRID))
  await ingest(seeded, "calls", join(root, "calls.csv"), CALLS)
}

const ok = (r: CdpResult) => {
  expect(r.status, r.stderr).toBe(0)
  return r.stdout
}

const json = <T = Record<string, any>>(r: CdpResult): T => JSON.parse(ok(r)) as T

/**
 * The profile id `cdp profile show IDENTIFIER` gives on the seeded data (which never changes: asked once a file, each
 * on a copy of its own, as tests ask at once).
 */
const seededProfileIds = new Map<string, Promise<string>>()
const seededProfileOf = (identifier: string): Promise<string> => {
  if (!seededProfileIds.has(identifier)) {
    seededProfileIds.set(identifier, seededReader()("profile", "show", identifier, "--format", "json").then((r) => json(r)["profileId"] as string))
  }
  return seededProfileIds.get(identifier)!
}

/** A refusal: one line on stderr naming what is wrong, exit 1, nothing on stdout. */
const refused = (r: CdpResult, names: string | RegExp) => {
  expect(r.status, r.stderr).toBe(1)
  expect(r.stdout).toBe("")
  expect(r.stderr.trimEnd().split("\n"), r.stderr).toHaveLength(1)
  expect(r.stderr).toMatch(/^cdp: /)
  expect(r.stderr).toMatch(names)
}

describe("cdp profile show", () => {
  it.concurrent("shows one profile joining the web, e-mail and call channels, with provenance, latest traits and sentiment", async ({ expect }) => {
    const read = seededReader()
    const byEmail = json(await read("profile", "show", "email:ann.lee@x.example", "--format", "json"))
    expect(byEmail.channels).toEqual({ web: 4, email: 1, call: 1 })
    const identifiers = ["ANN.LEE@x.example", "phone:+447700900123", "+44 7700 900123", "user_id:u-ann", "anonymous_id:anon-ann", byEmail.profileId]
    const profiles = await Promise.all(identifiers.map(seededProfileOf))
    identifiers.forEach((identifier, i) => expect(profiles[i], identifier).toBe(byEmail.profileId))
    expect(byEmail).toMatchObject({
      tenant: "default", firstSeen: "2024-09-01 10:00:00.000", lastSeen: "2024-09-05 09:00:00.000",
      latestSentiment: { label: "positive", at: "2024-09-04 12:00:00.000" },
      merges: [],
    })
    expect(byEmail.identifiers).toEqual([
      { kind: "anonymous_id", value: "anon-ann", raw: "anon-ann", trust: "verified", firstSeen: "2024-09-01 10:00:00.000", lastSeen: "2024-09-01 10:05:00.000", messages: 2 },
      expect.objectContaining({ kind: "email", value: "ann.lee@x.example", raw: "Ann.Lee@X.example", messages: 2, lastSeen: "2024-09-03 08:00:00.000" }),
      expect.objectContaining({ kind: "phone", value: "+447700900123", raw: "+44 7700 900123", messages: 2, lastSeen: "2024-09-04 12:00:00.000" }),
      expect.objectContaining({ kind: "user_id", value: "u-ann", messages: 3 }),
    ])
    expect(byEmail.traits).toEqual({
      email: { value: "Ann.Lee@X.example", source: "segment", at: "2024-09-01 10:05:00.000" },
      phone: { value: "+44 7700 900123", source: "segment", at: "2024-09-01 10:05:00.000" },
      name: { value: "Ann Lee", source: "segment", at: "2024-09-01 10:05:00.000" },
      plan: { value: "pro", source: "segment", at: "2024-09-05 09:00:00.000" },
    })
    expect(byEmail.recentEvents.map((e: { messageId: string }) => e.messageId)).toEqual(
      ["web-identify-2", "CA-ann-1", "sg-open-1", "web-order-1", "web-identify-1", "web-page-1"])
    expect(json(await read("profile", "show", "user_id:u-ann", "--events", "2", "--format", "json")).recentEvents).toEqual([
      { messageId: "web-identify-2", timestamp: "2024-09-05 09:00:00.000", channel: "web", type: "identify", event: "" },
      { messageId: "CA-ann-1", timestamp: "2024-09-04 12:00:00.000", channel: "call", type: "track", event: "Call" },
    ])

    const table = ok(await read("profile", "show", "ann.lee@x.example"))
    expect(table).toContain(`Profile ${byEmail.profileId} (tenant default)`)
    for (const heading of ["Channels", "Identifiers", "Traits", "Merges and splits", "Recent events"]) expect(table).toContain(`\n${heading}`)
    expect(table).toMatch(/│ call\s+│ 1\s+│/)
    expect(table).toMatch(/│ plan\s+│ pro\s+│ segment/)
    expect(table).toMatch(/sentiment\s+positive/)
  }, 120_000)

  it.concurrent("keeps tenants apart: the same address in another tenant is another profile", async ({ expect }) => {
    const { dir, data, cdp, seededCopy } = own()
    seededCopy()
    await ingest(data, "sendgrid", join(dir, "acme.json"), JSON.stringify(SENDGRID), "acme")
    const ours = json(await cdp("profile", "show", "ann.lee@x.example", "--format", "json"))
    const theirs = json(await cdp("profile", "show", "ann.lee@x.example", "--tenant", "acme", "--format", "json"))
    expect(theirs.profileId).not.toBe(ours.profileId)
    expect(theirs).toMatchObject({ tenant: "acme", channels: { email: 1 } })
    refused(await cdp("profile", "show", "user_id:u-ann", "--tenant", "acme"), /no profile of tenant "acme" holds user_id:u-ann/)
  }, 120_000)

  it.concurrent("refuses an unknown kind, a malformed value and an unknown identifier in one line naming it", async ({ expect }) => {
    const { data, cdp } = own()
    // A wrong identifier is refused before the data dir is opened: it touches nothing (so these run at once).
    const [shoe, email, phone, somebody, fax] = await Promise.all([
      cdp("profile", "show", "shoe:size9"), cdp("profile", "show", "email:not-an-email"), cdp("profile", "show", "phone:+12"),
      cdp("profile", "show", "somebody"), cdp("identity", "explain", "user_id:u-ann", "fax:123"),
    ])
    refused(shoe!, /"shoe:size9".*unknown kind "shoe"/)
    refused(email!, /"email:not-an-email"/)
    refused(phone!, /"phone:\+12".*phone/)
    refused(somebody!, /"somebody".*say which kind/)
    refused(fax!, /"fax:123".*unknown kind/)
    expect(existsSync(data)).toBe(false)
    const read = seededReader()
    refused(await read("profile", "show", "nobody@x.example"), /no profile of tenant "default" holds email:nobody@x.example/)
    refused(await read("profile", "show", "prof_doesnotexist0000"), /prof_doesnotexist0000/)
  }, 120_000)
})

describe("cdp identity", () => {
  it.concurrent("explain shows the chain of links through the identify message, or why two identifiers are two people", async ({ expect }) => {
    const read = seededReader()
    const joined = json(await read("identity", "explain", "email:ann.lee@x.example", "+447700900123", "--format", "json"))
    const profile = await seededProfileOf("user_id:u-ann")
    expect(joined).toMatchObject({ joined: true, profileId: profile })
    expect(joined.chain.length).toBeGreaterThanOrEqual(1)
    for (const link of joined.chain) {
      expect(link).toMatchObject({ messageId: "web-identify-1", timestamp: "2024-09-01 10:05:00.000", rule: expect.any(String), trust: expect.any(String) })
    }
    const ends = joined.chain.flatMap((l: { a: string; b: string }) => [l.a, l.b])
    expect(ends).toContain("email:ann.lee@x.example")
    expect(ends).toContain("phone:+447700900123")

    const table = ok(await read("identity", "explain", "anonymous_id:anon-ann", "ann.lee@x.example"))
    expect(table).toMatch(/^anonymous_id:anon-ann and email:ann.lee@x.example are one person/)
    expect(table).toMatch(/│ 1\s+│ .*│ web-identify-1 │ 2024-09-01 10:05:00.000 │/)

    const apart = json(await read("identity", "explain", "ann.lee@x.example", "ann.lee@y.example", "--format", "json"))
    expect(apart).toMatchObject({ joined: false, refused: [], shared: [], why: "no message states identifiers of both" })
    expect(apart.profiles).toContain(profile)
    expect(ok(await read("identity", "explain", "ann.lee@x.example", "ann.lee@y.example"))).toMatch(/are two profiles .*: no message states identifiers of both/)
    refused(await read("identity", "explain", "user_id:u-ann", "nobody@x.example"), /email:nobody@x.example/)
  }, 120_000)

  it.concurrent("suggestions lists Ann's two accounts with their evidence, and not Bob", async ({ expect }) => {
    const read = seededReader()
    const [first, second] = await Promise.all([seededProfileOf("user_id:u-ann"), seededProfileOf("user_id:u-ann2")])
    const lines = ok(await read("identity", "suggestions", "--format", "json")).trim().split("\n").map((l) => JSON.parse(l))
    expect(lines).toEqual([{
      id: expect.stringMatching(/^sug_/), a: [first, second].sort()[0], b: [first, second].sort()[1], score: 1,
      evidence: [
        { field: "name", a: "ann lee", b: "ann lee", similarity: 1 },
        expect.objectContaining({ field: "email", similarity: 1 }),
      ],
    }])
    const table = ok(await read("identity", "suggestions"))
    expect(table).toContain(lines[0].id)
    expect(table).toMatch(/│ email\s+│ ann.lee@[xy].example\s+│ ann.lee@[xy].example/)
    expect(table).not.toMatch(/bob/i)
    expect(ok(await read("identity", "suggestions", "--tenant", "acme"))).toBe("no probable duplicates\n")
    const zero = await read("identity", "suggestions", "--limit", "0")
    expect(zero.status).toBe(1)
    expect(zero.stderr).toMatch(/--limit .*at least 1/)
  }, 120_000)

  it.concurrent("rebuild reports messages, profiles before and after, and moves nothing when the rules did not change", async ({ expect }) => {
    const { cdp, seededCopy } = own()
    seededCopy()
    const before = await seededProfileOf("user_id:u-ann")
    const report = json<{ tenants: Array<Record<string, unknown>>; seconds: number }>(await cdp("identity", "rebuild", "--format", "json"))
    expect(report.tenants).toEqual([{ tenant: "default", messages: 8, profilesBefore: 3, profilesAfter: 3, moved: 0, seconds: expect.any(Number) }])
    expect(ok(await cdp("identity", "rebuild"))).toMatch(/│ default\s+│ 8\s+│ 3\s+│ 3\s+│ 0\s+│/)
    expect(json(await cdp("profile", "show", "user_id:u-ann", "--format", "json")).profileId).toBe(before)
    expect(json(await cdp("identity", "rebuild", "--tenant", "acme", "--format", "json")).tenants).toEqual([])
  }, 120_000)

  it.concurrent("every identity command explains itself with examples", async ({ expect }) => {
    const commands = [["profile", "show"], ["identity", "explain"], ["identity", "rebuild"], ["identity", "suggestions"]]
    const helps = await Promise.all(commands.map((command) => runCdp([...command, "--help"])))
    for (const [i, command] of commands.entries()) {
      const help = ok(helps[i]!)
      expect(help, command.join(" ")).toMatch(/Examples:\n\s+\$ npx cdp /)
      expect(help).toContain("--format")
      expect(help).toContain("--data-dir")
    }
  }, 60_000)
})

describe("GET /v1/profiles/{identifier} on cdp serve", () => {
  it.concurrent("answers with the admin token, and cdp profile show goes through it while serve holds the data dir", async ({ expect }) => {
    const { data, cdp, seededCopy } = own()
    seededCopy()
    const direct = json(await cdp("profile", "show", "ann.lee@x.example", "--format", "json"))
    const serve = await startServe(["--data-dir", data])
    try {
      const token = readFileSync(join(data, "admin-token"), "utf8").trim()
      const get = async (path: string, auth: string | null = `Bearer ${token}`) => {
        const res = await fetch(`${serve.url}${path}`, auth === null ? {} : { headers: { authorization: auth } })
        return { status: res.status, body: (await res.json()) as Record<string, any> }
      }
      expect(await get(`/v1/profiles/${encodeURIComponent("email:ann.lee@x.example")}`)).toEqual({ status: 200, body: direct })
      expect((await get(`/v1/profiles/${encodeURIComponent("+447700900123")}?tenant=default&events=1`)).body).toMatchObject({
        profileId: direct.profileId, recentEvents: [{ messageId: "web-identify-2" }],
      })
      expect(await get("/v1/profiles/user_id%3Au-ann", null)).toMatchObject({ status: 401, body: { rule: "missing_token" } })
      expect(await get("/v1/profiles/user_id%3Au-ann", "Bearer wrong")).toMatchObject({ status: 401 })
      expect(await get("/v1/profiles/shoe%3Asize9")).toMatchObject({ status: 400, body: { rule: "bad_identifier", error: expect.stringMatching(/"shoe:size9".*unknown kind/) } })
      expect(await get("/v1/profiles/%E0%A4%A")).toMatchObject({ status: 400, body: { rule: "bad_identifier" } })
      expect(await get("/v1/profiles/user_id%3Au-ann?events=many")).toMatchObject({ status: 400, body: { field: "events" } })
      expect(await get("/v1/profiles/email%3Anobody%40x.example")).toMatchObject({
        status: 404, body: { rule: "profile_not_found", error: 'no profile of tenant "default" holds email:nobody@x.example' },
      })
      expect(await get("/v1/profiles/user_id%3Au-ann?tenant=acme")).toMatchObject({ status: 404 })

      expect(json(await cdp("profile", "show", "user_id:u-ann", "--format", "json"))).toEqual(direct)
      expect(ok(await cdp("profile", "show", "+447700900123"))).toContain(`Profile ${direct.profileId}`)
      refused(await cdp("profile", "show", "nobody@x.example"), /no profile of tenant "default" holds email:nobody@x.example/)
      refused(await cdp("profile", "show", "shoe:size9"), /unknown kind "shoe"/)
      // Decisions and suggestions go through the server (test/cli/identity-serve.test.ts), and so does a rebuild (an
      // operation of the server: test/cli/operations-through-server.test.ts); explain needs the data dir.
      refused(await cdp("identity", "explain", "user_id:u-ann", "ann.lee@x.example"), /is in use by `cdp serve`/)
      expect(ok(await cdp("identity", "rebuild", "--tenant", "default"))).toMatch(/default/)
    } finally {
      expect(await serve.stop()).toBe(0)
    }
    // The request log names the route, never the identifier asked for.
    expect(serve.stdout()).toContain('"path":"/v1/profiles/{identifier}"')
    expect(serve.stdout()).not.toMatch(/u-ann|ann\.lee|nobody|7700900123/)
  }, 180_000)
})

describe("operators' decisions through cdp identity", () => {
  it.concurrent("accepting a suggestion merges, separate reverts it, dismiss hides the pair, split takes an identifier out", async ({ expect }) => {
    const { cdp, seededCopy } = own()
    seededCopy()
    const profileOf = async (identifier: string) => json(await cdp("profile", "show", identifier, "--format", "json"))["profileId"] as string
    const [suggestion] = ok(await cdp("identity", "suggestions", "--format", "json")).trim().split("\n").map((l) => JSON.parse(l) as { id: string })
    expect(await profileOf("user_id:u-ann2")).not.toBe(await profileOf("user_id:u-ann"))

    const accepted = json(await cdp("identity", "suggestions", "--accept", suggestion!.id, "--format", "json"))
    expect(accepted["operation"]).toMatchObject({ kind: "link", reason: expect.stringContaining(`suggestion ${suggestion!.id} accepted`) })
    expect(await profileOf("user_id:u-ann2")).toBe(await profileOf("user_id:u-ann"))
    expect(ok(await cdp("identity", "suggestions", "--format", "json"))).toBe("")

    ok(await cdp("identity", "separate", "user_id:u-ann", "user_id:u-ann2", "--reason", "two people after all"))
    expect(await profileOf("user_id:u-ann2")).not.toBe(await profileOf("user_id:u-ann"))
    ok(await cdp("identity", "suggestions", "--dismiss", suggestion!.id, "--reason", "checked by hand"))
    expect(ok(await cdp("identity", "suggestions", "--format", "json"))).toBe("")

    const before = json(await cdp("profile", "show", "user_id:u-ann", "--format", "json"))
    expect(before["channels"]).toMatchObject({ call: 1 })
    const split = json(await cdp("identity", "split", "phone:+447700900123", "--reason", "a shared number", "--format", "json"))
    expect(split["rebuild"]["tenants"][0]).toMatchObject({ moved: 1 })
    expect(json(await cdp("profile", "show", "user_id:u-ann", "--format", "json"))["channels"]).not.toHaveProperty("call")
    refused(await cdp("identity", "suggestions", "--accept", "sug_nope"), /no open suggestion sug_nope/)
    refused(await cdp("identity", "split", "prof_aaaaaaaaaaaaaaaaaaaaaa", "--reason", "x"), /not a profile id/)
    refused(await cdp("identity", "separate", "user_id:u-ann", "user_id:nobody", "--reason", "x"), /no profile of tenant "default" holds user_id:nobody/)
    refused(await cdp("identity", "split", "phone:+15555550000", "--reason", "x"), /no profile of tenant "default" holds phone:\+15555550000/)
  }, 180_000)
})
