// The audience routes (ingest/audience-route.ts) answer as ingest/openapi.json describes, refuse bad input naming the
// field, and keep a token bound to a tenant inside it. The handler is served as the collector serves it behind its
// guard (which checks the token and its scope before the handler runs).
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { callChecked as call } from "../../support/openapi.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"
import { withConsent } from "../../consent/support.ts"
import { landPeople, serveAudiences } from "./support.ts"

let dir: string
beforeAll(() => { dir = freshDir() })
afterAll(() => removeDir(dir))

const serve = serveAudiences

describe("the audience API", () => {
  it("creates, previews, lists, edits, pages members and changes, as openapi.json describes", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      const base = yield* serve({ tokenId: "admin-token", tenant: undefined })
      const condition = { trait: "plan", equals: "pro" }
      const created = yield* call(base, "/v1/audiences", "POST", "/v1/audiences", { tenant: "acme", name: "Pro plan", purpose: "EmailMarketing", condition })
      expect(created.status).toBe(201)
      const id = created.body["audience"].id as string
      expect(created.body["audience"]).toMatchObject({ name: "Pro plan", purpose: "EmailMarketing", version: 1, updatedBy: "token:admin-token" })

      const preview = yield* call(base, "/v1/audiences/preview", "POST", "/v1/audiences/preview", { tenant: "acme", id, sample: 5 })
      expect(preview.status).toBe(200)
      expect(preview.body["count"]).toBe(2)
      expect(preview.body["sample"][0].conditions).toEqual([{ pointer: "", condition: 'trait "plan" = "pro"', matched: true, value: '"pro"' }])

      const list = yield* call(base, "/v1/audiences", "GET", "/v1/audiences?tenant=acme")
      expect(list.body["audiences"].map((a: { id: string }) => a.id)).toEqual([id])
      expect((yield* call(base, "/v1/audiences", "GET", "/v1/audiences?tenant=globex")).body["audiences"]).toEqual([])
      expect((yield* call(base, "/v1/audiences/{id}", "GET", `/v1/audiences/${id}?tenant=acme`)).body["audience"].condition).toEqual(condition)

      const edited = yield* call(base, "/v1/audiences/{id}", "PATCH", `/v1/audiences/${id}`, { tenant: "acme", name: "Pro customers", note: "clearer" })
      expect(edited.body["audience"]).toMatchObject({ name: "Pro customers", version: 2 })
      const history = yield* call(base, "/v1/audiences/{id}/history", "GET", `/v1/audiences/${id}/history?tenant=acme`)
      expect(history.body["versions"].map((v: { changes: Array<string> }) => v.changes)).toEqual([["created"], ['name: "Pro plan" -> "Pro customers"']])

      const members = yield* call(base, "/v1/audiences/{id}/members", "GET", `/v1/audiences/${id}/members?tenant=acme`)
      expect(members.body).toMatchObject({ members: [], next: null })
      const changes = yield* call(base, "/v1/audiences/{id}/changes", "GET", `/v1/audiences/${id}/changes?tenant=acme&limit=10`)
      expect(changes.body).toMatchObject({ changes: [], cursor: "" })

      // Refusals name the field.
      const bad = yield* call(base, "/v1/audiences", "POST", "/v1/audiences",
        { tenant: "acme", name: "x", purpose: "EmailMarketing", condition: { and: [{ trait: "a", exists: true }, { event: "e", count: { op: ">>", value: 1 } }] } })
      expect(bad).toMatchObject({ status: 400, body: { rule: "bad_audience", field: "/condition/and/1/count/op" } })
      expect((yield* call(base, "/v1/audiences", "POST", "/v1/audiences", { tenant: "acme", name: "y", purpose: "Telepathy", condition })).body)
        .toMatchObject({ rule: "bad_purpose", field: "/purpose" })
      expect((yield* call(base, "/v1/audiences", "POST", "/v1/audiences", { tenant: "acme", name: "Pro customers", purpose: "EmailMarketing", condition })))
        .toMatchObject({ status: 409, body: { rule: "audience_name_taken", field: "/name" } })
      // A name is a label people read in lists and terminals: an escape sequence, a NUL or a bidi override is no part of one.
      for (const name of ["VIP\u001b[2J", "a\u0000b", "x\u202egnp", "two\nlines"]) {
        expect((yield* call(base, "/v1/audiences", "POST", "/v1/audiences", { tenant: "acme", name, purpose: "EmailMarketing", condition })).body,
          JSON.stringify(name)).toMatchObject({ rule: "bad_audience", field: "/name" })
      }
      expect((yield* call(base, "/v1/audiences/{id}", "PATCH", `/v1/audiences/${id}`, { tenant: "acme", name: "ok\u0007" })).body)
        .toMatchObject({ rule: "bad_audience", field: "/name" })
      expect((yield* call(base, "/v1/audiences", "POST", "/v1/audiences", "{not json")).body).toMatchObject({ rule: "bad_body" })
      expect((yield* call(base, "/v1/audiences/{id}/changes", "GET", `/v1/audiences/${id}/changes?tenant=acme&cursor=x'--`)).body)
        .toMatchObject({ rule: "bad_cursor", field: "cursor" })
      // ?after= is the previous page's next (a cursor bound to the audience): anything else, a bare profile id too, is
      // refused naming it, not an empty page.
      for (const junk of ["' OR 1=1", "x", "prof_", "prof_short", `prof_${"a".repeat(60)}`, "prof_AbCdEfGhIjKlMnOpQrSt_-"]) {
        expect((yield* call(base, "/v1/audiences/{id}/members", "GET", `/v1/audiences/${id}/members?tenant=acme&after=${encodeURIComponent(junk)}`)))
          .toMatchObject({ status: 400, body: { rule: "bad_cursor", field: "after" } })
      }
      expect((yield* call(base, "/v1/audiences/{id}/members", "GET", `/v1/audiences/${id}/members?tenant=acme&after=`)).status).toBe(200)
      expect((yield* call(base, "/v1/audiences/{id}", "GET", "/v1/audiences/aud_nothere?tenant=acme")).status).toBe(404)
      expect((yield* call(base, "/v1/audiences/{id}", "GET", `/v1/audiences/${id}?tenant=globex`)).status).toBe(404)

      // A token bound to globex never sees acme's audience, whatever it names.
      const globex = yield* serve({ tokenId: "tok_globex", tenant: "globex" })
      expect((yield* call(globex, "/v1/audiences/{id}", "GET", `/v1/audiences/${id}`)).status).toBe(404)
      expect((yield* call(globex, "/v1/audiences/{id}", "GET", `/v1/audiences/${id}?tenant=acme`)).status).toBe(403)
      expect((yield* call(globex, "/v1/audiences/preview", "POST", "/v1/audiences/preview", { tenant: "acme", id })).status).toBe(403)
      expect((yield* call(globex, "/v1/audiences", "GET", "/v1/audiences")).body["audiences"]).toEqual([])

      const deleted = yield* call(base, "/v1/audiences/{id}", "DELETE", `/v1/audiences/${id}?tenant=acme`)
      expect(deleted.body).toMatchObject({ deleted: true })
      expect((yield* call(base, "/v1/audiences/{id}", "GET", `/v1/audiences/${id}?tenant=acme`)).status).toBe(404)
    })), 60_000)

  it("a body field a route does not take is refused naming it, and an edit that changes nothing is refused, not a new version", () =>
    withConsent(dir, Effect.gen(function* () {
      const base = yield* serve({ tokenId: "admin-token", tenant: undefined })
      const condition = { trait: "plan", equals: "pro" }
      // Probing found both ignored: a typo ("notes", "smaple") or an "id" of one's choosing was dropped without a word.
      for (const [field, body] of [
        ["notes", { tenant: "fields", name: "n1", purpose: "EmailMarketing", condition, notes: "why" }],
        ["id", { tenant: "fields", name: "n2", purpose: "EmailMarketing", condition, id: "aud_mine" }],
      ] as const) {
        expect(yield* call(base, "/v1/audiences", "POST", "/v1/audiences", body), field)
          .toMatchObject({ status: 400, body: { rule: "bad_audience", field: `/${field}`, error: `unknown field "${field}" (name, purpose, condition, note)` } })
      }
      expect((yield* call(base, "/v1/audiences", "GET", "/v1/audiences?tenant=fields")).body["audiences"]).toEqual([])
      expect(yield* call(base, "/v1/audiences/preview", "POST", "/v1/audiences/preview", { tenant: "fields", purpose: "EmailMarketing", condition, smaple: 5 }))
        .toMatchObject({ status: 400, body: { rule: "bad_audience", field: "/smaple", error: 'unknown field "smaple" (id, purpose, condition, sample)' } })

      const made = yield* call(base, "/v1/audiences", "POST", "/v1/audiences", { tenant: "fields", name: "n3", purpose: "EmailMarketing", condition, note: "first" })
      expect(made.status).toBe(201)
      const id = made.body["audience"].id as string
      for (const body of [{ tenant: "fields" }, { tenant: "fields", note: "only a note" }]) {
        expect(yield* call(base, "/v1/audiences/{id}", "PATCH", `/v1/audiences/${id}`, body), JSON.stringify(body))
          .toMatchObject({ status: 400, body: { rule: "bad_audience", error: "nothing to change: give name, purpose or condition" } })
      }
      expect((yield* call(base, "/v1/audiences/{id}/history", "GET", `/v1/audiences/${id}/history?tenant=fields`)).body["versions"]).toHaveLength(1)
    })), 60_000)

  it("lists a tenant's audiences by keyset page (none skipped or repeated while others are made and deleted) and refuses one past the tenant's cap", () =>
    withConsent(dir, Effect.gen(function* () {
      const base = yield* serve({ tokenId: "admin-token", tenant: undefined }, 5)
      const make = (tenant: string, name: string) =>
        call(base, "/v1/audiences", "POST", "/v1/audiences", { tenant, name, purpose: "EmailMarketing", condition: { trait: "plan", equals: name } })
      const ids: Array<string> = []
      for (let i = 0; i < 5; i++) ids.push((yield* make("paging", `a${i}`)).body["audience"].id as string)
      const over = yield* make("paging", "a5")
      expect(over).toMatchObject({ status: 409, body: { rule: "audience_limit", field: "tenant" } })
      expect(over.body["error"]).toContain("CDP_MAX_AUDIENCES")
      expect(over.body["error"]).toContain("5")
      // The cap is per tenant.
      expect((yield* make("paging-other", "a5")).status).toBe(201)

      const first = yield* call(base, "/v1/audiences", "GET", "/v1/audiences?tenant=paging&limit=2")
      expect(first.body["audiences"]).toHaveLength(2)
      expect(first.body["nextCursor"]).toEqual(expect.any(String))
      // Between pages one audience already shown is deleted and a new one made (the cap has room again).
      const shown = first.body["audiences"].map((a: { id: string }) => a.id) as Array<string>
      expect((yield* call(base, "/v1/audiences/{id}", "DELETE", `/v1/audiences/${shown[0]}?tenant=paging`)).status).toBe(200)
      const added = (yield* make("paging", "late")).body["audience"].id as string
      let cursor = first.body["nextCursor"] as string | null
      const rest: Array<string> = []
      while (cursor !== null) {
        const page = yield* call(base, "/v1/audiences", "GET", `/v1/audiences?tenant=paging&limit=2&cursor=${encodeURIComponent(cursor)}`)
        rest.push(...page.body["audiences"].map((a: { id: string }) => a.id))
        cursor = page.body["nextCursor"]
      }
      const seen = [...shown, ...rest]
      expect(new Set(seen).size).toBe(seen.length)
      // Every audience there all along is seen once; the one made meanwhile is seen exactly when it sorts after the first page.
      expect([...seen].filter((id) => id !== added).sort()).toEqual([...ids].sort())
      expect(rest.includes(added)).toBe(added > shown[1]!)
      // A first page without ?limit= holds them all (default 100).
      expect((yield* call(base, "/v1/audiences", "GET", "/v1/audiences?tenant=paging")).body).toMatchObject({ nextCursor: null })

      for (const limit of ["0", "1001", "-1", "x"]) {
        expect((yield* call(base, "/v1/audiences", "GET", `/v1/audiences?tenant=paging&limit=${limit}`)))
          .toMatchObject({ status: 400, body: { rule: "bad_limit", field: "limit" } })
      }
      for (const cursor of ["x'--", Buffer.from("[1]").toString("base64url"), Buffer.from('["a","b"]').toString("base64url")]) {
        expect((yield* call(base, "/v1/audiences", "GET", `/v1/audiences?tenant=paging&cursor=${encodeURIComponent(cursor)}`)))
          .toMatchObject({ status: 400, body: { rule: "bad_cursor", field: "cursor" } })
      }
    })), 60_000)
})
