// A tenant's name is written one way: lowercase. Found probing cdp serve: an admin token bound to no tenant sending
// ?tenant=ACME, or a DSR naming "Acme", made a tenant beside "acme" without a word (its events, its requests), so a
// typo forked a customer's data. Every place a tenant is named refuses another spelling 400 bad_tenant, saying what
// was meant; a spelling with capitals a write key of the server names (data dirs from before the rule) is taken
// exactly as written, and no other spelling of it is.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { writeKeys } from "../../ingest/writekeys.ts"
import { knownSpellings, tenantNameProblem } from "../../warehouse/tenant.ts"
import { callApi as call, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { runCdp } from "../support/cli.ts"
import { freshDir, removeDir, TEST_KEYS } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const track = { userId: "u1", event: "Signed Up" }
const dsr = (tenant: string) => ({ type: "access", identifier: "user_id:u1", tenant })
/** The tenants rows were written under, every table that keeps them by tenant and is written by these calls. */
const tenantsWritten = (url: string) =>
  Effect.map(call(url, "POST", "/v1/query", ADMIN, {
    sql: "SELECT DISTINCT tenant FROM (SELECT tenant FROM events UNION ALL SELECT tenant FROM dsr_requests UNION ALL SELECT tenant FROM dead_letters) ORDER BY tenant",
    allTenants: true,
  }), (r) => (r.body.rows as Array<{ tenant: string }>).map((row) => row.tenant))

describe("tenant names are lowercase", () => {
  it("another spelling is refused 400 bad_tenant wherever it is named, saying which was meant, and nothing lands under it", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const refusals = [
        [yield* call(url, "POST", "/v1/track?tenant=ACME", ADMIN, track), "tenant", '?tenant "ACME" is not a tenant\'s name'],
        [yield* call(url, "POST", "/v1/dsr", ADMIN, dsr("Acme")), "/tenant", 'the body\'s "tenant" "Acme" is not a tenant\'s name'],
        [yield* call(url, "GET", "/v1/tenants/aCME/audiences", ADMIN), "tenant", 'the path\'s tenant "aCME" is not a tenant\'s name'],
        [yield* call(url, "POST", "/v1/tokens", ADMIN, { role: "marketer", tenant: "ACME" }), "/tenant", '"ACME" is not'],
        [yield* call(url, "GET", `/v1/audiences?tenant=${encodeURIComponent(" acme")}`, ADMIN), "tenant", '" acme" is not'],
        // Fullwidth letters, as a phone keyboard may type them: Unicode's compatibility form is "acme".
        [yield* call(url, "GET", `/v1/audiences?tenant=${encodeURIComponent("ａｃｍｅ")}`, ADMIN), "tenant", '"ａｃｍｅ" is not'],
      ] as const
      for (const [res, field, words] of refusals) {
        expect(res, words).toMatchObject({ status: 400, body: { success: false, rule: "bad_tenant", field } })
        expect(res.body.error as string).toContain(words)
        expect(res.body.error as string).toContain("1-64 lowercase letters, digits")
        expect(res.body.error as string).toContain('did you mean "acme"?')
      }
      // A look-alike (Cyrillic а and с) is no spelling of acme: refused, with no guess.
      const homoglyph = yield* call(url, "GET", `/v1/audiences?tenant=${encodeURIComponent("\u0430\u0441me")}`, ADMIN)
      expect(homoglyph).toMatchObject({ status: 400, body: { rule: "bad_tenant" } })
      expect(homoglyph.body.error as string).not.toContain("did you mean")
      // 10 KB of a name is quoted cut, not echoed whole.
      const long = yield* call(url, "GET", `/v1/audiences?tenant=${"A".repeat(10_000)}`, ADMIN)
      expect(long).toMatchObject({ status: 400, body: { rule: "bad_tenant" } })
      expect((long.body.error as string).length).toBeLessThan(300)
      expect(yield* call(url, "POST", "/v1/track?tenant=acme", ADMIN, track)).toMatchObject({ status: 200 })
      expect(yield* call(url, "POST", "/v1/dsr", ADMIN, dsr("acme"))).toMatchObject({ status: 201 })
      let written: ReadonlyArray<string> = []
      for (let i = 0; i < 200 && !written.includes("acme"); i++) {
        yield* Effect.sleep("50 millis")
        written = yield* tenantsWritten(url)
      }
      expect(written).toEqual(["acme"])
    })), 60_000)

  it("a spelling with capitals a write key names is taken as written, and one differing from it only in case is refused naming it", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      expect(yield* call(url, "GET", "/v1/audiences?tenant=Legacy", ADMIN)).toMatchObject({ status: 200 })
      const made = yield* call(url, "POST", "/v1/tokens", ADMIN, { role: "admin", tenant: "Legacy" })
      expect(made).toMatchObject({ status: 201, body: { details: { tenant: "Legacy" } } })
      const bound = made.body.token as string
      expect(yield* call(url, "GET", "/v1/tenants/Legacy/audiences", bound)).toMatchObject({ status: 200 })
      expect(yield* call(url, "POST", "/v1/tokens", bound, { role: "marketer", tenant: "Legacy" })).toMatchObject({ status: 201 })
      for (const other of ["legacy", "LEGACY"]) {
        const res = yield* call(url, "GET", `/v1/audiences?tenant=${other}`, ADMIN)
        expect(res, other).toMatchObject({ status: 400, body: { rule: "bad_tenant", field: "tenant" } })
        expect(res.body.error).toBe(`?tenant "${other}" differs only in case from tenant "Legacy": write it "Legacy"`)
      }
      const blank = yield* call(url, "GET", `/v1/audiences?tenant=${encodeURIComponent("legacy ")}`, ADMIN)
      expect(blank).toMatchObject({ status: 400, body: { rule: "bad_tenant" } })
      expect(blank.body.error as string).toContain('did you mean "Legacy"?')
      // A token bound to another tenant is not told how "Legacy" is spelt: naming it any way is not its tenant.
      const acme = (yield* call(url, "POST", "/v1/tokens", ADMIN, { role: "marketer", tenant: "acme" })).body.token as string
      const foreign = yield* call(url, "GET", "/v1/audiences?tenant=legacy", acme)
      expect(foreign).toMatchObject({ status: 403, body: { rule: "tenant_forbidden" } })
      expect(JSON.stringify(foreign.body)).not.toContain("Legacy")
    }), { writeKeys: writeKeys([...TEST_KEYS, { writeKey: "wk_legacy", tenant: "Legacy" }]) }), 60_000)

  it("two write keys naming tenants that differ only in case keep both as written, and refuse a third spelling", () => {
    const known = knownSpellings(["acme", "Acme", "globex", "Globex.eu"])
    expect([...known].sort()).toEqual(["Acme", "Globex.eu", "acme"])
    expect(["acme", "Acme", "Globex.eu", "globex", "initech"].map((t) => tenantNameProblem(t, known))).toEqual([undefined, undefined, undefined, undefined, undefined])
    expect(tenantNameProblem("ACME", known)).toMatch(/^"ACME" differs only in case from tenant "(acme|Acme)"/)
    expect(tenantNameProblem("globex.eu", known)).toBe('"globex.eu" differs only in case from tenant "Globex.eu": write it "Globex.eu"')
    expect(tenantNameProblem("Initech", known)).toContain('did you mean "initech"?')
  })

  it("cdp's --tenant and cdp token create --tenant take the same names", () => {
    const upper = runCdp(["token", "list", "--tenant", "ACME", "--data-dir", dir])
    expect(upper.status).toBe(1)
    expect(upper.stderr).toBe(`cdp: --tenant "ACME" is not a tenant's name (1-64 lowercase letters, digits, '.', '_' or '-' (not '.' or '..')); did you mean "acme"?\n`)
    const create = runCdp(["token", "create", "--role", "marketer", "--tenant", "Legacy", "--data-dir", dir], { env: { CDP_WRITE_KEYS: "wk_l=Legacy" } })
    expect(create.stderr).toBe("")
    expect(create.status).toBe(0)
    const folded = runCdp(["token", "list", "--tenant", "legacy", "--data-dir", dir], { env: { CDP_WRITE_KEYS: "wk_l=Legacy" } })
    expect(folded.stderr).toBe(`cdp: --tenant "legacy" differs only in case from tenant "Legacy": write it "Legacy"\n`)
  }, 60_000)
})
