// `cdp export run|status|history|dry-run|replay` as the real commands, on a data dir with a few ingested people:
// a webhook receiver (in this process) and a CSV destination; wrong input is one line and exit 1.
import { execFile } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { expectOneLineError } from "../support/cli-expect.ts"
import { CDP_BIN, REPO_ROOT, runCdp, startServe } from "../support/cli.ts"
import { type WebhookServer, webhookServer } from "../support/crm-replay-servers.ts"
import { basicAuth, freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
let data: string
let hook: WebhookServer
const SECRET = "whsec_cli_test_0123456789"
beforeEach(async () => {
  dir = freshDir()
  data = join(dir, "data")
  hook = await webhookServer(SECRET)
})
afterEach(async () => {
  await hook.close()
  removeDir(dir)
})

const destinations = () => JSON.stringify({
  default: [
    { name: "hook", type: "webhook", purpose: "EmailMarketing", url: hook.url, secret: SECRET },
    { name: "lake", type: "csv", purpose: "EmailMarketing" },
  ],
})
const cdp = (args: ReadonlyArray<string>, env: Record<string, string | undefined> = { CDP_DESTINATIONS: destinations() }) =>
  runCdp([...args, "--data-dir", data], { env })

/** The command without blocking this process, whose event loop serves the webhook receiver meanwhile. */
const cdpAsync = (args: ReadonlyArray<string>) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CDP_BIN, ...args, "--data-dir", data], { cwd: REPO_ROOT, env: { ...process.env, CDP_DESTINATIONS: destinations() } },
      (error, stdout, stderr) => resolve({ status: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }))
  })

describe("cdp export", () => {
  it("runs, shows status (credentials redacted), history and a dry run, and sends each profile once", async () => {
    const file = join(dir, "people.ndjson")
    writeFileSync(file, [1, 2, 3].map((n) => JSON.stringify({
      type: "identify", userId: `u${n}`, messageId: `m${n}`, traits: { email: `p${n}@mail.example`, first_name: `P${n}` }, timestamp: "2024-10-01T10:00:00Z",
    })).join("\n") + "\n")
    expect(runCdp(["ingest", "--source", "segment", file, "--data-dir", data]).status).toBe(0)

    const dry = cdp(["export", "dry-run", "hook", "--format", "json"])
    expect(dry.status, dry.stderr).toBe(0)
    expect(JSON.parse(dry.stdout.trim().split("\n")[0]!)).toMatchObject({ operation: "upsert", method: "POST", records: 3 })
    // The table counts every record, shows --limit of them and says how many more.
    const table = cdp(["export", "dry-run", "hook", "--limit", "1"])
    expect(table.status, table.stderr).toBe(0)
    expect(table.stdout).toContain("would send 1 request(s): 3 upsert(s), 0 removal(s), 0 erasure(s)")
    expect(table.stdout).toContain("... and 2 more record(s)")
    expect(hook.requests.length).toBe(0)

    const run = await cdpAsync(["export", "run", "--format", "json"])
    expect(run.status, run.stderr).toBe(0)
    expect(run.stdout.trim().split("\n").map((l) => JSON.parse(l) as { destination: string; upserted: number }).map((r) => [r.destination, r.upserted]))
      .toEqual([["hook", 3], ["lake", 3]])
    expect((await cdpAsync(["export", "run", "hook"])).status).toBe(0)
    expect(hook.records.size).toBe(3)
    expect([...hook.applied.values()].every((n) => n === 1)).toBe(true)

    const status = cdp(["export", "status", "--format", "json"])
    expect(status.status, status.stderr).toBe(0)
    expect(status.stdout).not.toContain(SECRET)
    expect(JSON.parse(status.stdout.split("\n")[0]!)).toMatchObject({ destination: "hook", profiles_there: 3, dead_letters: 0, config: { secret: "***" } })

    const history = cdp(["export", "history", "hook"])
    expect(history.status, history.stderr).toBe(0)
    expect(history.stdout).toContain("delivered")
    expect(history.stdout).not.toContain("p1@mail.example")
    expect(cdp(["export", "replay", "hook"]).stdout).toContain("no dead letters for hook")
  }, 150_000)

  it("refuses wrong input in one line", () => {
    expectOneLineError(cdp(["export", "run"], { CDP_DESTINATIONS: undefined }), `tenant "default" has no export destinations`)
    expectOneLineError(cdp(["export", "status"], { CDP_DESTINATIONS: '{"default":[{"name":"x","type":"webhook","purpose":"P","url":"ftp://h"}]}' }), "CDP_DESTINATIONS must be")
    // A purpose its tenant does not have (a typo of EmailMarketing) could never run: refused when read, not at each run.
    expectOneLineError(cdp(["export", "status"], { CDP_DESTINATIONS: '{"default":[{"name":"x","type":"ndjson","purpose":"EmailMarketin"}]}' }),
      'CDP_DESTINATIONS must be destinations whose purpose is one of their tenant\'s purposes (CDP_CONSENT) (destination "x" of tenant default has purpose "EmailMarketin"; its purposes are')
    expectOneLineError(cdp(["export", "history", "nope"]), `no destination "nope" for tenant "default" (destinations: hook, lake)`)
    expectOneLineError(cdp(["export", "history", "hook", "--limit", "0"]), "must be a whole number of at least 1")
    // A tenant name outside the one rule (warehouse/tenant.ts TENANT_NAME) is refused before any command reads it.
    expectOneLineError(cdp(["export", "run", "--tenant", "../etc"]), `--tenant "../etc" is not a tenant's name (1-64 lowercase`)
  })

  it("while cdp serve holds the data dir, every export command goes through its /v1/exports routes and its CDP_DESTINATIONS", async () => {
    const saved = process.env["CDP_DESTINATIONS"]
    process.env["CDP_DESTINATIONS"] = destinations()
    const serve = await startServe(["--data-dir", data, "--write-key", "wk_exports_via"]).finally(() => {
      if (saved === undefined) delete process.env["CDP_DESTINATIONS"]
      else process.env["CDP_DESTINATIONS"] = saved
    })
    // The command's own environment names no destinations: the server's configuration is the one that counts.
    const viaServer = (args: ReadonlyArray<string>) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const env = { ...process.env }
        delete env["CDP_DESTINATIONS"]
        execFile(process.execPath, [CDP_BIN, ...args, "--data-dir", data], { cwd: REPO_ROOT, env },
          (error, stdout, stderr) => resolve({ status: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr }))
      })
    try {
      const res = await fetch(`${serve.url}/v1/batch`, {
        method: "POST", headers: { authorization: basicAuth("wk_exports_via"), "content-type": "application/json" },
        body: JSON.stringify({ batch: ["v1", "v2"].map((id) => ({ type: "identify", userId: id, messageId: `m-${id}`, traits: { email: `${id}@mail.example` }, timestamp: "2024-10-01T10:00:00Z" })) }),
      })
      expect(res.status).toBe(200)
      const deadline = Date.now() + 60_000
      let dry = await viaServer(["export", "dry-run", "hook", "--format", "json"])
      while ((dry.status !== 0 || dry.stdout.trim() === "") && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 300))
        dry = await viaServer(["export", "dry-run", "hook", "--format", "json"])
      }
      expect(dry.status, dry.stderr).toBe(0)
      expect(JSON.parse(dry.stdout.trim().split("\n")[0]!)).toMatchObject({ operation: "upsert", records: 2 })
      expect(hook.records.size).toBe(0)
      const run = await viaServer(["export", "run", "hook", "--format", "json"])
      expect(run.status, run.stderr).toBe(0)
      expect(JSON.parse(run.stdout.trim())).toMatchObject({ destination: "hook", upserted: 2, deadLettered: 0 })
      expect([...hook.records.values()].map((r) => (r["traits"] as Record<string, unknown>)["email"]).sort()).toEqual(["v1@mail.example", "v2@mail.example"])
      const status = await viaServer(["export", "status", "--format", "json"])
      expect(status.status, status.stderr).toBe(0)
      const rows = status.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(rows.map((r) => r["destination"])).toEqual(["hook", "lake"])
      expect(rows[0]).toMatchObject({ profiles_there: 2, dead_letters: 0, config: { secret: "***" } })
      const history = await viaServer(["export", "history", "hook", "--format", "json"])
      expect(history.status, history.stderr).toBe(0)
      expect(JSON.parse(history.stdout.trim().split("\n")[0]!)).toMatchObject({ operation: "upsert", outcome: "delivered" })
      const replay = await viaServer(["export", "replay", "hook"])
      expect(replay.status, replay.stderr).toBe(0)
      expect(replay.stdout).toContain("no dead letters for hook")
      // The server's refusal is the command's one line.
      const wrong = await viaServer(["export", "history", "nope"])
      expect(wrong.status).toBe(1)
      expect(wrong.stderr.trim().split("\n")).toHaveLength(1)
      expect(wrong.stderr).toContain(`no destination "nope" for tenant "default" (destinations: hook, lake)`)
    } finally {
      expect(await serve.stop()).toBe(0)
    }
  }, 120_000)

  it("cdp serve with CDP_EXPORT_EVERY sends what lands to each destination on its own loop", async () => {
    const saved = { d: process.env["CDP_DESTINATIONS"], e: process.env["CDP_EXPORT_EVERY"] }
    process.env["CDP_DESTINATIONS"] = destinations()
    process.env["CDP_EXPORT_EVERY"] = "1"
    const serve = await startServe(["--data-dir", data, "--write-key", "wk_exports_test"]).finally(() => {
      for (const [k, v] of [["CDP_DESTINATIONS", saved.d], ["CDP_EXPORT_EVERY", saved.e]] as const) {
        if (v === undefined) delete process.env[k]
        else process.env[k] = v
      }
    })
    try {
      const res = await fetch(`${serve.url}/v1/batch`, {
        method: "POST", headers: { authorization: basicAuth("wk_exports_test"), "content-type": "application/json" },
        body: JSON.stringify({ batch: [{ type: "identify", userId: "s1", messageId: "ms1", traits: { email: "s1@mail.example" }, timestamp: "2024-10-01T10:00:00Z" }] }),
      })
      expect(res.status).toBe(200)
      const deadline = Date.now() + 60_000
      while (hook.records.size === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200))
      expect([...hook.records.values()].map((r) => (r["traits"] as Record<string, unknown>)["email"])).toEqual(["s1@mail.example"])
    } finally {
      expect(await serve.stop()).toBe(0)
    }
  })
})
