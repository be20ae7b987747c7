// `cdp token create|inspect|list|revoke`, run as the real commands: on the data directory itself and through a running
// `cdp serve` (its /v1/tokens routes), where a created token works and a revoked one stops at once.
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { expectOneLineError } from "../support/cli-expect.ts"
import { runCdp, startServe } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
let data: string
beforeEach(() => {
  dir = freshDir()
  data = join(dir, "data")
})
afterEach(() => removeDir(dir))

const cdp = (...args: ReadonlyArray<string>) => runCdp([...args, "--data-dir", data])

const ok = (r: { status: number | null; stdout: string; stderr: string }) => {
  expect(r.status, r.stderr).toBe(0)
  return r.stdout
}

/** The token on the first line, alone. */
const tokenOf = (stdout: string) => {
  const first = stdout.split("\n", 1)[0]!
  expect(first).toMatch(/^cdp_[A-Za-z0-9_-]{43}$/)
  return first
}

describe("cdp token on the data directory", () => {
  it("create prints the token once, first and alone; inspect, list and revoke never show it again", () => {
    const out = ok(cdp("token", "create", "--role", "marketer", "--tenant", "acme", "--name", "crm sync", "--expires", "2099-01-31"))
    const token = tokenOf(out)
    expect(out).toContain("role       marketer")
    expect(out).toContain("tenant     acme")
    expect(out).toContain("expires    2099-01-31 00:00:00")
    expect(out).toContain("Shown once")
    const id = /id {9}(tok_\S+)/.exec(out)![1]!
    const byToken = JSON.parse(ok(cdp("token", "inspect", token, "--format", "json")))
    expect(byToken).toMatchObject({
      id, role: "marketer", tenant: "acme", name: "crm sync", status: "active", expiresAt: "2099-01-31T00:00:00.000Z", lastUsedAt: null,
      scopes: ["profiles:read", "audiences:read", "audiences:write", "listening:read", "exports:read", "relations:read"],
    })
    expect(JSON.parse(ok(cdp("token", "inspect", id, "--format", "json")))).toEqual(byToken)
    const compliance = tokenOf(ok(cdp("token", "create", "--role", "compliance", "--scopes", "dsr:read,consent:read", "--format", "json")))
    const listed = ok(cdp("token", "list", "--format", "json")).trim().split("\n").map((l) => JSON.parse(l))
    expect(listed.map((t) => t.role)).toEqual(["marketer", "compliance"])
    expect(listed[1]).toMatchObject({ tenant: null, scopes: ["dsr:read", "consent:read"] })
    const table = ok(cdp("token", "list"))
    for (const text of [table, JSON.stringify(listed)]) {
      expect(text).not.toContain(token.slice(4))
      expect(text).not.toContain(compliance.slice(4))
    }
    expect(ok(cdp("token", "list", "--tenant", "acme", "--format", "json")).trim().split("\n")).toHaveLength(1)
    expect(ok(cdp("token", "revoke", id))).toMatch(new RegExp(`^revoked ${id} at `))
    expect(JSON.parse(ok(cdp("token", "inspect", id, "--format", "json")))).toMatchObject({ status: "revoked" })
    expectOneLineError(cdp("token", "revoke", "tok_nosuchtoken"), "no token tok_nosuchtoken is known")
  }, 60_000)

  it("a wrong role, scope, expiry or id is one line and exit 1, and nothing is made (every rule: test/ingest/auth.test.ts)", () => {
    expectOneLineError(cdp("token", "create", "--role", "root"), "role must be one of collector, marketer, compliance, admin")
    expectOneLineError(cdp("token", "create", "--role", "marketer", "--scopes", "dsr:write"), 'scope "dsr:write" is not the marketer role\'s')
    expectOneLineError(cdp("token", "create", "--role", "admin", "--expires", "yesterday"), 'expiry "yesterday" is not a date')
    expectOneLineError(cdp("token", "inspect", "hunter2"), "give a token id (tok_...) or a token (cdp_...)")
    // No data dir was made: a revoke there says so (an unknown id on one that exists: the test above).
    expectOneLineError(cdp("token", "revoke", "tok_nosuchtoken"), `cannot use data dir ${data}: it does not exist`)
    expectOneLineError(cdp("token", "list"), `cannot use data dir ${data}: it does not exist`)
  }, 60_000)
})

describe("cdp token through cdp serve", () => {
  it("a token made while the server holds the data dir works at once, shows its last use, and stops when revoked", async () => {
    const serve = await startServe(["--data-dir", data, "--write-key", "wk_acme=acme"])
    let id = ""
    try {
      const out = ok(cdp("token", "create", "--role", "compliance", "--tenant", "acme"))
      const token = tokenOf(out)
      id = /id {9}(tok_\S+)/.exec(out)![1]!
      const get = async (path: string, bearer: string) => {
        const res = await fetch(`${serve.url}${path}`, { headers: { authorization: `Bearer ${bearer}` } })
        return { status: res.status, body: (await res.json()) as Record<string, unknown> }
      }
      expect(await get("/v1/dsr", token)).toMatchObject({ status: 200, body: { success: true, requests: [] } })
      expect(await get("/v1/dsr?tenant=globex", token)).toMatchObject({ status: 403, body: { rule: "tenant_forbidden" } })
      expect(await get("/v1/query", token)).toMatchObject({ status: 403, body: { rule: "missing_scope" } })
      const seen = JSON.parse(ok(cdp("token", "inspect", token, "--format", "json")))
      expect(seen).toMatchObject({ id, status: "active", tenant: "acme" })
      expect(seen.lastUsedAt).not.toBeNull()
      expect(ok(cdp("token", "list", "--format", "json"))).toContain(id)
      ok(cdp("token", "revoke", id))
      expect(await get("/v1/dsr", token)).toMatchObject({ status: 401, body: { rule: "token_revoked" } })
    } finally {
      expect(await serve.stop()).toBe(0)
    }
    // The server wrote the last use when it stopped.
    expect(JSON.parse(ok(cdp("token", "inspect", id, "--format", "json")))).toMatchObject({
      status: "revoked", lastUsedAt: expect.stringMatching(/^\d{4}-/),
    })
  }, 120_000)
})
