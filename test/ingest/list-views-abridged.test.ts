// List views answer summaries of what grows with a person, and the audit page is capped in bytes too. Found probing
// cdp serve: GET /v1/dsr (the list) was 1.36 MB for one request of a person with 10,000 identifiers, each request's
// receipt listing every identifier's keyed hash, and GET /v1/audit?limit=500 answered 8 MB. Single-item views
// (GET /v1/dsr/{id}) stay whole.
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { auditSigner, LISTED_KEYS } from "../../consent/audit.ts"
import { AUDIT_LIST, auditRoute } from "../../ingest/audit-route.ts"
import { encodePageCursor, listOf } from "../../ingest/pages.ts"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { basicAuth, freshDir, removeDir, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const N = 20
type Receipt = { subject: { keys: Array<string>; keyCount?: number } }
type Listed = { id: string; receipt: Receipt | null; abridged?: { fields: Record<string, number>; whole: string } }
type Entry = { seq: number; kind: string; requestId: string; data: Record<string, unknown>; abridged?: { fields: Record<string, number>; whole: string } }

describe("list views of requests and the audit log", () => {
  it("a request's receipt is listed with its first keys and their count, whole at GET /v1/dsr/{id}; the audit page is abridged and capped in bytes", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      // One person under N anonymous ids and N addresses (one userId).
      const batch = Array.from({ length: N }, (_, i) => ({
        type: "identify", messageId: `m-${i}`, userId: "u-many", anonymousId: `anon-many-${i}`, timestamp: "2024-09-01T10:00:00.000Z",
        traits: { email: `many${i}@x.example` },
      }))
      const sent = yield* Effect.promise(() => fetch(`${url}/v1/batch`, {
        method: "POST", headers: { authorization: basicAuth(WRITE_KEY), "content-type": "application/json" }, body: JSON.stringify({ batch }),
      }).then((r) => r.status))
      expect(sent).toBe(200)
      let count = 0
      for (let i = 0; i < 200 && count < 2 * N + 1; i++) {
        const r = yield* callApi(url, "GET", "/v1/profiles/user_id%3Au-many/identifiers?tenant=acme&limit=100", TEST_ADMIN_TOKEN)
        count = r.status === 200 ? Number(r.body["identifierCount"] ?? 0) : 0
        if (count < 2 * N + 1) yield* Effect.sleep("100 millis")
      }
      expect(count).toBe(2 * N + 1)
      const posted = yield* callApi(url, "POST", "/v1/dsr", TEST_ADMIN_TOKEN, { type: "access", identifier: "user_id:u-many", tenant: "acme" })
      expect(posted.status).toBe(201)
      const id = (posted.body["request"] as { id: string }).id

      const one = yield* callApi(url, "GET", `/v1/dsr/${id}`, TEST_ADMIN_TOKEN)
      checkResponse("/v1/dsr/{id}", "GET", one.status, one.body)
      const whole = (one.body["request"] as Listed).receipt!
      expect(whole.subject.keys).toHaveLength(2 * N + 1)
      expect((one.body["request"] as Listed).abridged).toBeUndefined()

      const list = yield* callApi(url, "GET", "/v1/dsr?tenant=acme", TEST_ADMIN_TOKEN)
      checkResponse("/v1/dsr", "GET", list.status, list.body)
      const listed = (list.body["requests"] as Array<Listed>).find((r) => r.id === id)!
      expect(listed.receipt!.subject.keys).toEqual(whole.subject.keys.slice(0, LISTED_KEYS))
      expect(listed.receipt!.subject.keyCount).toBe(2 * N + 1)
      expect(listed.abridged).toEqual({ fields: { "/receipt/subject/keys": 2 * N + 1 }, whole: `/v1/dsr/${id}` })

      const log = yield* callApi(url, "GET", "/v1/audit?tenant=acme&limit=500", TEST_ADMIN_TOKEN)
      checkResponse("/v1/audit", "GET", log.status, log.body)
      const entries = log.body["entries"] as Array<Entry>
      const completed = entries.find((e) => e.kind === "dsr.completed" && e.requestId === id)!
      expect((completed.data["receipt"] as Receipt).subject.keys).toHaveLength(LISTED_KEYS)
      expect(completed.abridged).toEqual({ fields: { "/data/receipt/subject/keys": 2 * N + 1 }, whole: `/v1/dsr/${id}` })
      const running = entries.find((e) => e.kind === "dsr.running" && e.requestId === id)!
      expect(running.data["subjectKeys"]).toHaveLength(LISTED_KEYS)
      expect(running.abridged?.fields).toEqual({ "/data/subjectKeys": 2 * N + 1 })

      // Pages capped at 2,000 bytes: each page is within it (or one entry), and the pages together are the uncapped page.
      const route = yield* auditRoute({ signer: yield* auditSigner(dir), maxPageBytes: 2000 })
      const walked: Array<Entry> = []
      let cursor: string | null = null
      let pages = 0
      for (let guard = 0; guard < 200; guard++) {
        const reply = yield* route({ method: "GET", url: `/v1/audit?tenant=acme&limit=500${cursor === null ? "" : `&cursor=${cursor}`}`, headers: {} } as IncomingMessage)
        expect(reply.status).toBe(200)
        const body = reply.body as { entries: Array<Entry>; nextCursor: string | null }
        checkResponse("/v1/audit", "GET", reply.status, body)
        expect(body.entries.length === 1 || JSON.stringify(body.entries).length <= 2000, JSON.stringify(body.entries).length.toString()).toBe(true)
        walked.push(...body.entries)
        pages++
        cursor = body.nextCursor
        if (cursor === null) break
      }
      const uncapped = yield* (yield* auditRoute({ signer: yield* auditSigner(dir) }))({ method: "GET", url: `/v1/audit?tenant=acme&limit=500&cursor=${encodePageCursor([entries[0]!.seq + 1], listOf(AUDIT_LIST, "acme"))}`, headers: {} } as IncomingMessage)
      expect(pages).toBeGreaterThan(1)
      expect(walked.map((e) => e.seq).slice(-entries.length)).toEqual(entries.map((e) => e.seq))
      expect((uncapped.body as { entries: Array<Entry> }).entries.map((e) => e.seq)).toEqual(entries.map((e) => e.seq))
    })), 180_000)
})
