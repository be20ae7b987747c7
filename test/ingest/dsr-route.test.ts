// POST /v1/dsr refuses what it does not take. Found probing cdp serve: a field it did not know was ignored, so a
// restriction sent with "Lift": true (a typo of "lift") was run as a new restriction instead of lifting one.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi, landBatch, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { identifierKey, Keys } from "../../consent/keys.ts"
import { storeRequest } from "../../warehouse/dsr.ts"
import { freshDir, query, removeDir, withEmbeddedWarehouse } from "../support/pipeline.ts"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import type { IncomingMessage } from "node:http"
import { AUDIT_KEY_FILE, auditSigner, verifyAudit } from "../../consent/audit.ts"
import { preReadBodies } from "../../ingest/query-route.ts"
import { makeDsrRoute } from "../../ingest/dsr-route.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("POST /v1/dsr", () => {
  it("a body field it does not take is refused 400 naming it, and no request is recorded", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const typo = yield* callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN,
        { type: "restriction", identifier: "email:ann@acme.example", tenant: "acme", Lift: true })
      expect(typo.status).toBe(400)
      expect(typo.body).toMatchObject({ success: false, rule: "bad_body", field: "/Lift" })
      expect(String(typo.body["error"])).toBe('unknown field "Lift" (a request takes type, identifier, tenant, set, lift)')
      const listed = yield* callApi(url, "GET", "/v1/dsr?tenant=acme", TEST_ADMIN_TOKEN)
      expect(listed.body["requests"]).toEqual([])
      // What the CLI sends (tenant, type, identifier, and set or lift when given) is still taken.
      const ok = yield* callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN, { type: "access", identifier: "email:ann@acme.example", tenant: "acme" })
      expect(ok.status).toBe(201)
    })), 60_000)

  it("a profile id of another tenant, or of none, is refused 404 naming it and the tenant, and nothing is recorded", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* landBatch(url, [{ type: "identify", userId: "u1", messageId: "m1", traits: { email: "ann@acme.example" } }], { identifier: "email:ann@acme.example", events: 1 })
      const profile = yield* callApi(url, "GET", "/v1/profiles/email:ann@acme.example?tenant=acme", TEST_ADMIN_TOKEN)
      const profileId = String(profile.body["profileId"])
      expect(profileId).toMatch(/^prof_/)
      const madeUp = "prof_AAAAAAAAAAAAAAAAAAAAAA"
      for (const [tenant, id] of [["globex", profileId], ["acme", madeUp], ["globex", madeUp]] as const) {
        for (const type of ["objection", "erasure", "restriction"]) {
          const r = yield* callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN, { type, identifier: id, tenant })
          expect(r.status, `${type} of ${id} in ${tenant}`).toBe(404)
          expect(r.body).toMatchObject({ success: false, rule: "profile_not_found", field: "/identifier" })
          expect(String(r.body["error"])).toContain(`no profile ${id} in tenant "${tenant}"`)
        }
      }
      for (const tenant of ["acme", "globex"]) {
        expect((yield* callApi(url, "GET", `/v1/dsr?tenant=${tenant}`, TEST_ADMIN_TOKEN)).body["requests"]).toEqual([])
      }
      const written = yield* query<{ n: string }>(
        "SELECT (SELECT count() FROM consent_ledger WHERE source LIKE 'dsr%') + (SELECT count() FROM profile_restrictions) + (SELECT count() FROM subject_restrictions) AS n")
      expect(Number(written[0]!.n)).toBe(0)

      // An earlier request that is not an erasure does not make the id the tenant's (one recorded before this check
      // named another tenant's profile): only a profile erased since stays nameable.
      const now = Date.now()
      yield* storeRequest({
        tenant: "globex", requestId: "dsr_recordedbeforethecheck", type: "objection", status: "completed", subjectKind: "profile",
        subjectKey: identifierKey(yield* Keys, "globex", "profile", profileId), subjectKeys: [], receivedAtMs: now, dueAtMs: now,
        startedAtMs: now, finishedAtMs: now, done: [], details: {}, error: "", receipt: null,
      })
      expect((yield* callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN, { type: "objection", identifier: profileId, tenant: "globex" })).status).toBe(404)

      // The profile's own tenant: erased, and erased again (an erasure of it was recorded, so the id is still its);
      // another right about the erased profile has nothing to act on.
      for (const attempt of [1, 2]) {
        const erased = yield* callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN, { type: "erasure", identifier: profileId, tenant: "acme" })
        expect(erased.status, `erasure ${attempt}: ${JSON.stringify(erased.body)}`).toBe(201)
        expect(erased.body["request"]).toMatchObject({ status: "completed" })
      }
      expect((yield* callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN, { type: "access", identifier: profileId, tenant: "acme" })).status).toBe(404)
    })), 120_000)
})

describe("GET /v1/dsr", () => {
  it("refuses a parameter it does not take, 400 naming it and what it takes, instead of listing every request", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      for (const [path, name] of [
        ["/v1/dsr?tenant=acme&status=zzz", "status"], ["/v1/dsr?since=2024-02-30", "since"], ["/v1/dsr?type=erasure", "type"],
        ["/v1/dsr/dsr_abc?limit=5", "limit"],
      ] as const) {
        const r = yield* callApi(url, "GET", path, TEST_ADMIN_TOKEN)
        expect(r.status, `${path}: ${JSON.stringify(r.body)}`).toBe(400)
        expect(r.body).toMatchObject({ rule: "unknown_parameter", field: name })
        expect(String(r.body["error"])).toContain(`?${name}= is not taken here`)
      }
      const listed = yield* callApi(url, "GET", "/v1/dsr?tenant=acme&overdue=1&limit=5", TEST_ADMIN_TOKEN)
      expect(listed).toMatchObject({ status: 200, body: { requests: [] } })
    })), 60_000)
})

describe("the DSR route's audit signing key", () => {
  it("is the one cdp serve read once and passes in: the route reads no key file of its own", async () => {
    const keyDir = freshDir()
    try {
      // The data directory's key file cannot be read (a directory): a route reading it would fail to start.
      mkdirSync(join(dir, AUDIT_KEY_FILE))
      const verified = await withEmbeddedWarehouse(dir, Effect.gen(function* () {
        const signer = yield* auditSigner(keyDir)
        const route = yield* makeDsrRoute({ dataDir: dir, signer })
        const req = { method: "POST", url: "/v1/dsr", headers: {} } as IncomingMessage
        preReadBodies.set(req, JSON.stringify({ type: "access", identifier: "email:ann@acme.example", tenant: "acme" }))
        const reply = yield* route(req)
        expect(reply.status).toBe(201)
        // What it recorded is signed with the key passed in.
        return yield* verifyAudit(signer)
      }).pipe(Effect.provide(ObjectStore.local(join(dir, "objects")))))
      expect(verified.ok).toBe(true)
    } finally {
      removeDir(keyDir)
    }
  }, 60_000)
})
