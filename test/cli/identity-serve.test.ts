// Operators' identity decisions while `cdp serve` runs: the /v1/identity admin routes, and `cdp identity
// split|separate|suggestions` going through them while the server holds the data dir; a decision applies to what is
// stored and to the running graph at once. Bad CDP_IDENTITY_RULES / CDP_TRAIT_PRECEDENCE are one line naming the field.
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { runCdp, startServe } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
let data: string
beforeEach(() => {
  dir = freshDir()
  data = join(dir, "data")
})
afterEach(() => removeDir(dir))

const WEB = [
  { type: "identify", messageId: "ann-1", userId: "u-ann", timestamp: "2024-09-01T10:05:00.000Z", traits: { email: "ann.lee@x.example", phone: "+44 7700 900123", name: "Ann Lee" } },
  { type: "identify", messageId: "ann2-1", userId: "u-ann2", timestamp: "2024-09-03T09:00:00.000Z", traits: { email: "ann.lee@y.example", name: "Ann Lee" } },
  { type: "track", event: "Called", messageId: "call-1", anonymousId: "caller", timestamp: "2024-09-04T09:00:00.000Z", context: { traits: { phone: "+447700900123" } } },
]

const cdp = (...args: ReadonlyArray<string>) => runCdp([...args, "--data-dir", data])

const ok = (r: { status: number | null; stdout: string; stderr: string }) => {
  expect(r.status, r.stderr).toBe(0)
  return r.stdout
}

const json = <T = Record<string, any>>(r: { status: number | null; stdout: string; stderr: string }): T => JSON.parse(ok(r)) as T

describe("identity decisions on a running cdp serve", () => {
  it("go through the server, apply to stored messages and to the running graph, and refuse bad input naming the field", async () => {
    const file = join(dir, "web.ndjson")
    writeFileSync(file, WEB.map((m) => JSON.stringify(m)).join("\n"))
    ok(cdp("ingest", "--source", "segment", file))
    const serve = await startServe(["--data-dir", data])
    try {
      const token = readFileSync(join(data, "admin-token"), "utf8").trim()
      const call = async (method: string, path: string, body?: unknown, auth: string | null = `Bearer ${token}`) => {
        const res = await fetch(`${serve.url}/v1/identity/${path}`, {
          method, headers: auth === null ? {} : { authorization: auth }, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        })
        return { status: res.status, body: (await res.json()) as Record<string, any> }
      }
      const admin = { authorization: `Bearer ${token}` }
      // Read through the server's own routes (quicker than a cdp process each).
      const profileOf = async (identifier: string) =>
        ((await (await fetch(`${serve.url}/v1/profiles/${encodeURIComponent(identifier)}`, { headers: admin })).json()) as { profileId: string }).profileId
      expect(await profileOf("user_id:u-ann")).toBe(await profileOf("anonymous_id:caller"))

      expect(await call("POST", "split", { identifier: "phone:+447700900123", reason: "x" }, null)).toMatchObject({ status: 401, body: { rule: "missing_token" } })
      expect(await call("POST", "split", { identifier: "phone:+447700900123" })).toMatchObject({ status: 400, body: { field: "/reason" } })
      expect(await call("POST", "split", { identifier: "shoe:9", reason: "x" })).toMatchObject({ status: 400, body: { rule: "bad_identifier", field: "/identifier" } })
      expect(await call("POST", "separate", { a: "user_id:u-ann", b: "email:", reason: "x" })).toMatchObject({ status: 400, body: { field: "/b" } })
      expect(await call("POST", "split", { identifier: "user_id:nobody", reason: "x" })).toMatchObject({ status: 404, body: { rule: "profile_not_found" } })
      // A misspelt field is refused, not ignored ("reasn" would have recorded the evidence as the reason).
      expect(await call("POST", "suggestions/sug_nope/accept", { reasn: "same person" })).toMatchObject({ status: 400, body: { rule: "bad_body", field: "/reasn" } })
      expect(await call("POST", "separate", { a: "user_id:u-ann", b: "user_id:u-ann2", c: "user_id:x", reason: "x" }))
        .toMatchObject({ status: 400, body: { rule: "bad_body", field: "/c", error: 'unknown field "c" (a separation takes a, b, reason, tenant)' } })
      expect(await call("POST", "suggestions/sug_nope/accept", {})).toMatchObject({ status: 404, body: { rule: "unknown_suggestion" } })
      expect(await call("GET", "split")).toMatchObject({ status: 405 })
      expect(await call("GET", "suggestions?limit=0")).toMatchObject({ status: 400, body: { field: "limit" } })

      // The CLI goes through the server (which holds the data dir) and prints what it printed before.
      const split = json(cdp("identity", "split", "phone:+447700900123", "--reason", "a shared number", "--format", "json"))
      expect(split["operation"]).toMatchObject({ kind: "remove", a: "phone:+447700900123", reason: "a shared number" })
      expect(split["rebuild"]["tenants"][0]).toMatchObject({ tenant: "default", moved: 1 })
      expect(await profileOf("anonymous_id:caller")).not.toBe(await profileOf("user_id:u-ann"))
      // The running graph follows the decision: a new visitor stating the number joins nobody through it.
      const writeKey = readFileSync(join(data, "write-key"), "utf8").trim()
      const sent = await fetch(`${serve.url}/v1/track`, {
        method: "POST", headers: { authorization: `Basic ${Buffer.from(`${writeKey}:`).toString("base64")}`, "content-type": "application/json" },
        body: JSON.stringify({ event: "Called", messageId: "call-2", anonymousId: "caller-2", timestamp: "2024-09-06T09:00:00.000Z", context: { traits: { phone: "+447700900123" } } }),
      })
      expect(sent.status).toBe(200)
      let landed: Array<Record<string, string>> = []
      for (let i = 0; i < 50 && landed.length === 0; i++) {
        const res = await fetch(`${serve.url}/v1/query`, {
          method: "POST", headers: { ...admin, "content-type": "application/json" }, body: JSON.stringify({ sql: "SELECT profile_id FROM events WHERE message_id = 'call-2'" }),
        })
        landed = ((await res.json()) as { rows: Array<Record<string, string>> }).rows
        if (landed.length === 0) await new Promise((r) => setTimeout(r, 100))
      }
      expect(landed[0]!["profile_id"]).not.toBe(await profileOf("user_id:u-ann"))

      const listed = ok(cdp("identity", "suggestions", "--format", "json")).trim().split("\n").map((l) => JSON.parse(l) as { id: string; a: string; b: string })
      expect(listed).toHaveLength(1)
      expect(await call("GET", "suggestions")).toMatchObject({ status: 200, body: { suggestions: [{ id: listed[0]!.id }] } })
      const accepted = json(cdp("identity", "suggestions", "--accept", listed[0]!.id, "--format", "json"))
      expect(accepted["operation"]).toMatchObject({ kind: "link" })
      expect(await profileOf("user_id:u-ann2")).toBe(await profileOf("user_id:u-ann"))
      expect(ok(cdp("identity", "separate", "user_id:u-ann", "user_id:u-ann2", "--reason", "two people after all"))).toMatch(/^recorded separate/)
      expect(await profileOf("user_id:u-ann2")).not.toBe(await profileOf("user_id:u-ann"))
      expect(ok(cdp("identity", "suggestions", "--dismiss", listed[0]!.id, "--reason", "checked"))).toMatch(/^dismissed /)
      expect(await call("GET", "suggestions")).toMatchObject({ status: 200, body: { suggestions: [] } })
      const refusedThrough = cdp("identity", "split", "phone:+15555550000", "--reason", "x")
      expect(refusedThrough.status).toBe(1)
      expect(refusedThrough.stderr).toMatch(/^cdp: no profile of tenant "default" holds phone:\+15555550000\n$/)
    } finally {
      expect(await serve.stop()).toBe(0)
    }
    expect(serve.stdout()).toContain('"path":"/v1/identity/split"')
    expect(serve.stdout()).not.toMatch(/7700900123|ann\.lee/)
  }, 120_000)
})

describe("identity settings", () => {
  it("a bad CDP_IDENTITY_RULES or CDP_TRAIT_PRECEDENCE is one line naming the variable and the field, exit 1", () => {
    const bad = (env: Record<string, string>) => runCdp(["identity", "rebuild", "--data-dir", data], { env })
    const rules = bad({ CDP_IDENTITY_RULES: '{"acme": {"phoneRegions": ["GB", "XX"]}}' })
    expect(rules.status).toBe(1)
    expect(rules.stderr).toMatch(/^cdp: CDP_IDENTITY_RULES must be .*\(\/acme\/phoneRegions\/1: "XX" is not a two-letter country code.*\n$/)
    // UK is no region of the numbering plans (GB is): taken, every national number of it was refused as no phone.
    const regions = bad({ CDP_PHONE_REGIONS: "US,UK" })
    expect(regions.status).toBe(1)
    expect(regions.stderr).toMatch(/^cdp: CDP_PHONE_REGIONS must be .*\("UK" is not a two-letter country code with a phone numbering plan \(the United Kingdom's is GB\)\).*\n$/)
    const precedence = runCdp(["profile", "show", "user_id:u1", "--data-dir", data], { env: { CDP_TRAIT_PRECEDENCE: '{"*": {"name": "crm"}}' } })
    expect(precedence.status).toBe(1)
    expect(precedence.stderr).toMatch(/^cdp: CDP_TRAIT_PRECEDENCE must be .*\(\/\*\/name: must be an array.*\n$/)
  })
})
