// Audience names are how a marketer tells audiences apart in a list: "Pro", "pro" and "Ｐｒｏ" (fullwidth) cannot be
// told apart there, so a tenant's names are unique once folded (Unicode NFKC, case folded, runs of white space as one).
// The name is kept as typed; a new name or a rename that folds to another audience's is 409 audience_name_taken,
// naming that audience. Names saved before the rule stay as they were.
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { insertAudienceVersion } from "../../../warehouse/audiences.ts"
import { callChecked as call } from "../../support/openapi.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"
import { withConsent } from "../../consent/support.ts"
import { serveAudiences } from "./support.ts"

let dir: string
beforeAll(() => { dir = freshDir() })
afterAll(() => removeDir(dir))

const ANYONE = { trait: "plan", exists: true }

describe("audience names once folded", () => {
  it("a name equal to another's once NFKC-normalised and case folded is 409 naming it; the name is kept as typed", () =>
    withConsent(dir, Effect.gen(function* () {
      const base = yield* serveAudiences({ tokenId: "admin-token", tenant: undefined })
      const create = (name: string, tenant = "acme") => call(base, "/v1/audiences", "POST", "/v1/audiences", { tenant, name, purpose: "Analytics", condition: ANYONE })
      const pro = yield* create("Pro")
      expect(pro.status).toBe(201)
      const proId = pro.body["audience"].id as string
      for (const name of ["pro", "PRO", "\uff30\uff52\uff4f", "\uff50\uff52\uff4f", "  pRo  "]) {
        const res = yield* create(name)
        expect(res, JSON.stringify(name)).toMatchObject({ status: 409, body: { rule: "audience_name_taken", field: "/name" } })
        expect(res.body["error"], JSON.stringify(name)).toContain(`"Pro" (${proId})`)
      }
      // Full case folding, compatibility forms and white space alike.
      expect((yield* create("Stra\u00dfe")).status).toBe(201)
      expect((yield* create("STRASSE")).status).toBe(409)
      expect((yield* create("\ufb01le list")).status).toBe(201)
      expect((yield* create("File\u00a0 List")).status).toBe(409)
      // Kept as typed.
      const wide = yield* create("\uff36\uff49\uff50 list")
      expect(wide.body["audience"].name).toBe("\uff36\uff49\uff50 list")
      expect((yield* create("VIP LIST")).status).toBe(409)
      // Another tenant's names are its own.
      expect((yield* create("pro", "globex")).status).toBe(201)

      // A rename is checked as a new name is; an audience may take its own name in another case.
      const other = (yield* create("Other")).body["audience"].id as string
      const renamed = yield* call(base, "/v1/audiences/{id}", "PATCH", `/v1/audiences/${other}`, { tenant: "acme", name: "p\uff32O" })
      expect(renamed).toMatchObject({ status: 409, body: { rule: "audience_name_taken", field: "/name" } })
      expect(renamed.body["error"]).toContain(proId)
      expect((yield* call(base, "/v1/audiences/{id}", "PATCH", `/v1/audiences/${proId}`, { tenant: "acme", name: "PRO" })).body["audience"].name).toBe("PRO")
      // A deleted audience's name is free again.
      expect((yield* call(base, "/v1/audiences/{id}", "DELETE", `/v1/audiences/${proId}?tenant=acme`)).status).toBe(200)
      expect((yield* create("pro")).status).toBe(201)
    })), 60_000)

  // Probing found "Pro" beside "Pro" + a Hangul filler, a variation selector or a combining grapheme joiner (letters
  // and marks, not format characters, so not refused), and a name of one Hangul filler or braille blank: none shows.
  it("a character that shows nothing (default ignorable, a blank) is set aside when names are compared; a name of nothing visible is refused", () =>
    withConsent(dir, Effect.gen(function* () {
      const base = yield* serveAudiences({ tokenId: "admin-token", tenant: undefined })
      const create = (name: string) => call(base, "/v1/audiences", "POST", "/v1/audiences", { tenant: "blank", name, purpose: "Analytics", condition: ANYONE })
      const pro = yield* create("Pro")
      expect(pro.status).toBe(201)
      for (const name of ["Pro\u3164", "Pro\ufe0f", "P\u034fro", "Pro\u180b", "Pro\u115f", "Pro\uffa0", "Pro\u2800", "\u3164Pro"]) {
        const res = yield* create(name)
        expect(res, JSON.stringify(name)).toMatchObject({ status: 409, body: { rule: "audience_name_taken", field: "/name" } })
        expect(res.body["error"], JSON.stringify(name)).toContain(`"Pro" (${pro.body["audience"].id as string})`)
      }
      for (const name of ["\u3164", "\u2800", "\u115f\u1160", " \ufe0f "]) {
        expect(yield* create(name), JSON.stringify(name)).toMatchObject({ status: 400, body: { rule: "bad_audience", field: "/name", error: "must hold a visible character" } })
      }
      // An emoji's own presentation selector and joiners still make a name.
      expect((yield* create("\u2764\ufe0f fans")).status).toBe(201)
    })), 60_000)

  // Probing found "a" with 199 combining accents saved: drawn as a tower over the rows above and below it in a list.
  it("a character carrying more combining marks than any script writes is refused naming where", () =>
    withConsent(dir, Effect.gen(function* () {
      const base = yield* serveAudiences({ tokenId: "admin-token", tenant: undefined })
      const create = (name: string) => call(base, "/v1/audiences", "POST", "/v1/audiences", { tenant: "marks", name, purpose: "Analytics", condition: ANYONE })
      for (const name of [`a${"\u0301".repeat(199)}`, `Sale ${"e\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308\u0309"}`]) {
        const res = yield* create(name)
        expect(res, JSON.stringify(name)).toMatchObject({ status: 400, body: { rule: "bad_audience", field: "/name" } })
        expect(res.body["error"], JSON.stringify(name)).toMatch(/^name has more than 8 combining marks on one character \(at character \d+\)/)
      }
      // What scripts write: Vietnamese, Hebrew with points and cantillation, a Devanagari conjunct, Thai, Tibetan stacks.
      for (const name of ["Khách hàng Việt", "\u05d1\u05bc\u05b0\u05e8\u05b5\u05d0\u05e9\u05b4\u05c1\u0596\u05d9\u05ea", "\u0915\u094d\u0937\u0947\u0924\u094d\u0930", "\u0e19\u0e49\u0e33", "\u0f56\u0f66\u0f92\u0fb2\u0f7c\u0f53"]) {
        expect((yield* create(name)).status, JSON.stringify(name)).toBe(201)
      }
    })), 60_000)

  it("names saved before the rule stay; each can still be edited, and no new name may join them", () =>
    withConsent(dir, Effect.gen(function* () {
      const base = yield* serveAudiences({ tokenId: "admin-token", tenant: undefined })
      for (const [id, name] of [["aud_legacyA", "Gold"], ["aud_legacyB", "gold"]] as const) {
        yield* insertAudienceVersion({
          tenant: "legacy", audience_id: id, version: 1, name, purpose: "Analytics", condition: JSON.stringify(ANYONE), deleted: 0, actor: "test", note: "", atMs: Date.now(),
        })
      }
      const list = yield* call(base, "/v1/audiences", "GET", "/v1/audiences?tenant=legacy")
      expect(list.body["audiences"].map((a: { name: string }) => a.name).sort()).toEqual(["Gold", "gold"])
      const edited = yield* call(base, "/v1/audiences/{id}", "PATCH", "/v1/audiences/aud_legacyB", { tenant: "legacy", purpose: "Personalization" })
      expect(edited).toMatchObject({ status: 200, body: { audience: { name: "gold", purpose: "Personalization", version: 2 } } })
      expect((yield* call(base, "/v1/audiences/{id}", "PATCH", "/v1/audiences/aud_legacyB", { tenant: "legacy", name: "Gold rush" })).status).toBe(200)
      const made = yield* call(base, "/v1/audiences", "POST", "/v1/audiences", { tenant: "legacy", name: "GOLD", purpose: "Analytics", condition: ANYONE })
      expect(made).toMatchObject({ status: 409, body: { rule: "audience_name_taken" } })
      expect(made.body["error"]).toContain('"Gold" (aud_legacyA)')
    })), 60_000)
})
