// Dead letters over HTTP on a real collector (embedded engine): an admin lists what was refused and why (no payloads)
// and re-drives it through the server's own pipeline, every answer as openapi.json describes it; a marketer may not,
// a bound token sees only its tenant's, and a wrong parameter is a 400 naming it.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { callApi as call, TEST_ADMIN_TOKEN as ADMIN, withApi } from "../support/api.ts"
import { checked } from "../support/openapi.ts"
import { basicAuth, freshDir, OTHER_TENANT_KEY, removeDir, WRITE_KEY } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** Two refused messages of tenant acme (a bad timestamp, a track without event) and one of globex. */
const refuseSome = (url: string) =>
  Effect.gen(function* () {
    const post = (key: string, batch: Array<unknown>) => Effect.promise(() => fetch(`${url}/v1/batch`, {
      method: "POST", headers: { authorization: basicAuth(key), "content-type": "application/json" }, body: JSON.stringify({ batch }),
    }).then((r) => r.status))
    yield* post(WRITE_KEY, [
      { type: "track", userId: "ann", event: "Viewed", messageId: "bad-ts", timestamp: "yesterday-ish", properties: { note: "ann@private.example" } },
      { type: "track", userId: "ann", messageId: "no-event" },
      { type: "track", userId: "ann", event: "Fine", messageId: "fine" },
    ])
    yield* post(OTHER_TENANT_KEY, [{ type: "track", userId: "gus", messageId: "g-no-event" }])
    for (let i = 0; i < 200; i++) {
      const r = yield* call(url, "GET", "/v1/dead-letters", ADMIN)
      if (r.status === 200 && (r.body.deadLetters as Array<unknown>).length === 3) return
      yield* Effect.sleep("50 millis")
    }
    throw new Error("the dead letters did not land in 10 s")
  })

describe("/v1/dead-letters", () => {
  it("lists open dead letters with their reasons and no payload, filtered; a retry re-drives them and records the outcome", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* refuseSome(url)
      const every = checked("/v1/dead-letters", "GET", yield* call(url, "GET", "/v1/dead-letters", ADMIN))
      const letters = every.body.deadLetters as Array<Record<string, unknown>>
      expect(letters.map((l) => l.tenant).sort()).toEqual(["acme", "acme", "globex"])
      // The reason names what is wrong; the payload (here an address in the properties) is not shown.
      expect(letters.find((l) => l.messageId === "bad-ts")!.reason).toContain("yesterday-ish")
      expect(JSON.stringify(letters)).not.toContain("ann@private.example")
      expect(letters.every((l) => !("payload" in l))).toBe(true)
      const acme = checked("/v1/dead-letters", "GET", yield* call(url, "GET", "/v1/dead-letters?tenant=acme&rule=missing_event", ADMIN))
      expect((acme.body.deadLetters as Array<Record<string, unknown>>).map((l) => [l.messageId, l.rule, l.status])).toEqual([["no-event", "missing_event", "open"]])

      const retried = checked("/v1/dead-letters/retry", "POST", yield* call(url, "POST", "/v1/dead-letters/retry", ADMIN, { tenant: "acme" }))
      expect(retried.body).toMatchObject({ success: true, retried: 2, landed: 0, stillRejected: 2 })
      expect((retried.body.results as Array<Record<string, unknown>>).map((r) => r.rule).sort()).toEqual(["bad_timestamp", "missing_event"])
      const after = yield* call(url, "GET", "/v1/dead-letters?tenant=acme&rule=bad_timestamp", ADMIN)
      expect((after.body.deadLetters as Array<Record<string, unknown>>)[0]).toMatchObject({ status: "open", lastRetry: { outcome: "still_rejected", rule: "bad_timestamp" } })
      // globex's was not retried.
      const globex = yield* call(url, "GET", "/v1/dead-letters?tenant=globex", ADMIN)
      expect((globex.body.deadLetters as Array<Record<string, unknown>>)[0]!["lastRetry"]).toBeUndefined()
    })), 120_000)

  it("pages with ?limit= and the nextCursor it gives (keyset: nothing skipped or repeated), and refuses a cursor it did not give", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* refuseSome(url)
      const all = (checked("/v1/dead-letters", "GET", yield* call(url, "GET", "/v1/dead-letters", ADMIN)).body.deadLetters as Array<Record<string, unknown>>)
        .map((l) => l.deadLetterId)
      const first = checked("/v1/dead-letters", "GET", yield* call(url, "GET", "/v1/dead-letters?limit=2", ADMIN))
      expect((first.body.deadLetters as Array<Record<string, unknown>>).map((l) => l.deadLetterId)).toEqual(all.slice(0, 2))
      expect(first.body.nextCursor).toEqual(expect.any(String))
      const second = checked("/v1/dead-letters", "GET",
        yield* call(url, "GET", `/v1/dead-letters?limit=2&cursor=${first.body.nextCursor as string}`, ADMIN))
      expect((second.body.deadLetters as Array<Record<string, unknown>>).map((l) => l.deadLetterId)).toEqual(all.slice(2))
      expect(second.body.nextCursor).toBeNull()
      const bad = checked("/v1/dead-letters", "GET", yield* call(url, "GET", "/v1/dead-letters?cursor=not-ours", ADMIN))
      expect(bad).toMatchObject({ status: 400, body: { rule: "bad_cursor", field: "cursor" } })
    })), 120_000)

  it("refuses a marketer, another tenant and wrong parameters, each naming what is wrong", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* refuseSome(url)
      const admin = (yield* call(url, "POST", "/v1/tokens", ADMIN, { role: "admin", tenant: "acme" })).body.token as string
      const marketer = (yield* call(url, "POST", "/v1/tokens", ADMIN, { role: "marketer", tenant: "acme" })).body.token as string
      const bound = checked("/v1/dead-letters", "GET", yield* call(url, "GET", "/v1/dead-letters", admin))
      expect((bound.body.deadLetters as Array<Record<string, unknown>>).every((l) => l.tenant === "acme")).toBe(true)
      expect((yield* call(url, "GET", "/v1/dead-letters", marketer))).toMatchObject({ status: 403, body: { rule: "missing_scope" } })
      expect((yield* call(url, "GET", "/v1/dead-letters?tenant=globex", admin))).toMatchObject({ status: 403, body: { rule: "tenant_forbidden" } })
      expect((yield* call(url, "POST", "/v1/dead-letters/retry", admin, { tenant: "globex" }))).toMatchObject({ status: 403, body: { rule: "tenant_forbidden" } })
      for (const [path, rule, field] of [
        ["/v1/dead-letters?since=2024-02-30", "bad_since", "since"],
        ["/v1/dead-letters?since=soon", "bad_since", "since"],
        ["/v1/dead-letters?limit=0", "bad_limit", "limit"],
        ["/v1/dead-letters?all=maybe", "bad_all", "all"],
        ["/v1/dead-letters?rule=a&rule=b", "repeated_parameter", "rule"],
        ["/v1/dead-letters?payload=1", "unknown_parameter", "payload"],
      ] as const) {
        const r = checked("/v1/dead-letters", "GET", yield* call(url, "GET", path, ADMIN))
        expect(r.status, path).toBe(400)
        expect(r.body, path).toMatchObject({ rule, field })
      }
      for (const [body, rule, field] of [
        [{ limit: "10" }, "bad_body", "/limit"],
        [{ limit: 0 }, "bad_body", "/limit"],
        [{ source: "" }, "bad_body", "/source"],
        [{ since: "2024-13-01" }, "bad_since", "/since"],
        [{ everything: true }, "bad_body", "/everything"],
      ] as const) {
        const r = checked("/v1/dead-letters/retry", "POST", yield* call(url, "POST", "/v1/dead-letters/retry", ADMIN, body))
        expect(r.status, JSON.stringify(body)).toBe(400)
        expect(r.body, JSON.stringify(body)).toMatchObject({ rule, field })
      }
    })), 120_000)
})
