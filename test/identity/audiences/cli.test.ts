// `cdp audience ...` as a user runs it: preview with why, create, refresh, changes, history; bad input is one line;
// and while `cdp serve` runs, a landed event makes its entry without anyone asking.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readConditionFlag } from "../../../cli/audiences.ts"
import { AudienceInvalid, MAX_DEPTH } from "../../../identity/audiences/index.ts"
import { expectOneLineError } from "../../support/cli-expect.ts"
import { runCdp, startServe } from "../../support/cli.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"

let dir: string
let data: string
beforeAll(() => {
  dir = freshDir()
  data = join(dir, "data")
  const lines = [
    { type: "identify", userId: "ann", messageId: "m1", traits: { plan: "pro", city: "Leeds" }, timestamp: "2024-10-01T10:00:00Z" },
    { type: "identify", userId: "bob", messageId: "m2", traits: { plan: "free" }, timestamp: "2024-10-01T11:00:00Z" },
    { type: "track", userId: "ann", messageId: "m3", event: "Order Completed", timestamp: "2024-10-02T10:00:00Z" },
  ]
  writeFileSync(join(dir, "web.ndjson"), lines.map((l) => JSON.stringify(l)).join("\n"))
  const r = runCdp(["ingest", "--source", "segment", join(dir, "web.ndjson"), "--data-dir", data])
  expect(r.stderr).toBe("")
}, 120_000)
afterAll(() => removeDir(dir))

const cdp = (...args: Array<string>) => runCdp(["audience", ...args, "--data-dir", data])
const PRO = '{"trait": "plan", "equals": "pro"}'

describe("cdp audience", () => {
  let id = ""
  it("previews with the count, a sample and why each is in", () => {
    const r = cdp("preview", "--purpose", "EmailMarketing", "--condition", PRO)
    expect(r.stderr).toBe("")
    expect(r.stdout).toMatch(/^1 profile\(s\) match .*; 1 shown/)
    expect(r.stdout).toContain('  yes  trait "plan" = "pro"  (value: "pro")  [/]')
  })

  it("creates, refreshes, and shows changes, members and history", () => {
    const c = cdp("create", "--name", "Pro", "--purpose", "EmailMarketing", "--condition", PRO, "--note", "first try")
    expect(c.stderr).toBe("")
    id = c.stdout.split("\n")[0]!
    expect(id).toMatch(/^aud_/)
    expect(JSON.parse(cdp("refresh", "--format", "json").stdout)).toMatchObject({ audiences: 1, entered: 1, exited: 0 })
    const changes = JSON.parse(cdp("changes", id, "--format", "json").stdout) as { changes: Array<{ change: string; cause: string }>; cursor: string }
    expect(changes.changes).toMatchObject([{ change: "entered", cause: 'matched: trait "plan" = "pro" ("pro")' }])
    expect(JSON.parse(cdp("changes", id, "--cursor", changes.cursor, "--format", "json").stdout)).toEqual({ changes: [], cursor: changes.cursor })
    expect(cdp("list").stdout).toMatch(/Pro.*EmailMarketing.*1/)
    expect(cdp("members", id).stdout).toContain('trait "plan" = "pro" ("pro")')
    expect(cdp("edit", id, "--name", "Pro plan").stderr).toBe("")
    const history = cdp("history", id, "--format", "json").stdout.trim().split("\n").map((l) => JSON.parse(l) as { changes: Array<string>; note: string })
    expect(history.map((h) => h.changes)).toEqual([["created"], ['name: "Pro" -> "Pro plan"']])
    expect(history[0]!.note).toBe("first try")
    // The same name again saves no version, and says so.
    expect(cdp("edit", id, "--name", "Pro plan").stdout).toMatch(/^unchanged: aud_\S+ "Pro plan" already has that name, purpose and condition \(no version saved\)\n/)
    expect(cdp("history", id, "--format", "json").stdout.trim().split("\n")).toHaveLength(2)
  })

  it("lists and shows an audience whose purpose was removed from CDP_CONSENT as invalid, saying why; an edit must mend it", () => {
    const loyalty = { env: { CDP_CONSENT: JSON.stringify({ "*": { purposes: { Loyalty: { basis: "consent", whenUnknown: "granted", onDenied: "strip", onUnknown: "keep" } } } }) } }
    const c = runCdp(["audience", "create", "--name", "Loyal", "--purpose", "Loyalty", "--condition", PRO, "--data-dir", data], loyalty)
    expect(c.stderr).toBe("")
    const loyal = c.stdout.split("\n")[0]!
    const why = `its purpose "Loyalty" is no longer a purpose of tenant "default"`
    const list = cdp("list")
    expect(list.stdout).toMatch(/Loyal.*Loyalty.*invalid/)
    expect(list.stdout).toContain(`${loyal} "Loyal" is invalid: ${why}`)
    expect(cdp("show", loyal).stdout).toContain(`invalid   ${why}`)
    expect(cdp("refresh").stdout).toContain(`${loyal} "Loyal" (tenant default) not refreshed: ${why}`)
    expectOneLineError(cdp("edit", loyal, "--name", "Loyal customers"), `purpose: ${why}`)
    expectOneLineError(cdp("preview", loyal), `audience ${loyal} "Loyal" cannot be used: ${why}`)
    expect(cdp("delete", loyal).stderr).toBe("")
  })

  it("refuses bad input in one line naming what is wrong", () => {
    expectOneLineError(cdp("create", "--name", "X", "--purpose", "EmailMarketing", "--condition", '{"trait": "plan"}'), "condition: a trait condition needs exactly one of")
    expectOneLineError(cdp("create", "--name", "X", "--purpose", "EmailMarketing", "--condition", '{"or": [{"event": "e", "withinDays": 0}]}'), "condition/or/0/withinDays")
    expectOneLineError(cdp("create", "--name", "X", "--purpose", "Telepathy", "--condition", PRO), 'purpose: "Telepathy" is not a purpose')
    expectOneLineError(cdp("create", "--name", "X", "--purpose", "EmailMarketing", "--condition", "no-such-file.json"), "neither JSON")
    expectOneLineError(cdp("show", "aud_nothere"), 'no audience "aud_nothere"')
    expectOneLineError(cdp("changes", id, "--cursor", "1 OR 1=1"), "is not a cursor")
    expectOneLineError(cdp("preview", "--sample", "-3", "--purpose", "EmailMarketing", "--condition", PRO), "--sample")
  })

  it("checks a condition's shape before sending it: one nested 10,000 deep is refused naming where, not sent", () => {
    // Through cdp serve it failed as 'cdp serve ... did not answer (Maximum call stack size exceeded)': the request
    // body could not be written.
    const deep = `${'{"not":'.repeat(10_000)}{"trait": "a", "exists": true}${"}".repeat(10_000)}`
    const read = readConditionFlag(deep)
    expect(read).toBeInstanceOf(AudienceInvalid)
    expect((read as AudienceInvalid).message).toBe(`condition${"/not".repeat(MAX_DEPTH)}: a condition may nest at most ${MAX_DEPTH} levels deep`)
    expect(readConditionFlag(PRO)).toEqual({ trait: "plan", equals: "pro" })
  })

  it("reads a condition file as editors save it (UTF-8 with a byte order mark); a directory, UTF-16 or binary file is one line", () => {
    const bom = join(dir, "bom.json")
    writeFileSync(bom, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(PRO)]))
    const r = cdp("preview", "--purpose", "EmailMarketing", "--condition", bom)
    expect(r.stderr).toBe("")
    expect(r.stdout).toMatch(/^1 profile\(s\) match /)

    const utf16 = join(dir, "utf16.json")
    writeFileSync(utf16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(PRO, "utf16le")]))
    const binary = join(dir, "binary.json")
    writeFileSync(binary, Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0xff, 0x00, 0x22, 0x7d]))
    const folder = join(dir, "conditions")
    mkdirSync(folder)
    const preview = (file: string) => cdp("preview", "--purpose", "EmailMarketing", "--condition", file)
    expectOneLineError(preview(folder), `condition: cannot read ${folder}: it is a directory, not a file`)
    expectOneLineError(preview(utf16), `condition: cannot read ${utf16}: it is UTF-16 text; save it as UTF-8`)
    expectOneLineError(preview(binary), `condition: cannot read ${binary}: the body is not valid UTF-8: byte 0xc3 at offset 2`)
  })

  it("while cdp serve runs, an event that lands makes its entry without a request", async () => {
    const serve = await startServe(["--data-dir", data, "--write-key", "wk_aud=default"])
    try {
      const res = await fetch(`${serve.url}/v1/identify`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Basic ${Buffer.from("wk_aud:").toString("base64")}` },
        body: JSON.stringify({ userId: "cat", messageId: "m4", traits: { plan: "pro" }, timestamp: "2024-10-03T10:00:00Z" }),
      })
      expect(res.status).toBe(200)
      const token = readFileSync(join(data, "admin-token"), "utf8").trim()
      let entered = 0
      for (let i = 0; i < 60 && entered < 2; i++) {
        await new Promise((r) => setTimeout(r, 250))
        const q = await fetch(`${serve.url}/v1/query`, {
          method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ tenant: "default", sql: "SELECT count() AS n FROM audience_changes WHERE change = 'entered'" }),
        })
        entered = Number(((await q.json()) as { rows: Array<{ n: string }> }).rows[0]!.n)
      }
      expect(entered).toBe(2)
      // The data dir is held by cdp serve: the commands go through its /v1/audiences routes (behind the token guard).
      const feed = JSON.parse(cdp("changes", id, "--format", "json").stdout) as { changes: Array<{ change: string }>; cursor: string }
      expect(feed.changes.map((c) => c.change)).toEqual(["entered", "entered"])
      expect(cdp("preview", id, "--sample", "1").stdout).toMatch(/^2 profile\(s\) match .*; 1 shown/)
      expectOneLineError(cdp("create", "--name", "Y", "--purpose", "EmailMarketing", "--condition", '{"not": {}}'), "condition/not: has none of the keys")
    } finally {
      expect(await serve.stop()).toBe(0)
    }
    const events = runCdp(["query", "SELECT event, user_id FROM events WHERE source = 'audiences' ORDER BY user_id", "--format", "json", "--data-dir", data])
    expect(events.stdout.trim().split("\n").map((l) => JSON.parse(l))).toEqual([
      { event: "Audience Entered", user_id: "ann" }, { event: "Audience Entered", user_id: "cat" },
    ])
  }, 120_000)
})
