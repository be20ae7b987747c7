// A reader who sees a person's timeline masked (a marketer: no profiles:identifiers) cannot learn a masked value by
// filtering on it. Seen probing cdp serve as a marketer: an event named "Wrote to other@acme.example" is shown as
// "Wrote to [masked]", but ?event=Wrote%20to%20other@acme.example answered the event and ?event=Wrote%20to%20nobody@...
// answered none, so any guess at the address was confirmed or denied.
import { Effect } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import { callApi, createToken, landBatch, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const events = (path: string) => `/v1/profiles/user_id%3Aann/events?tenant=acme&event=${encodeURIComponent(path)}`

it("a masked reader's ?event= holding an address or a +number is refused 400 masked_filter; an admin's is answered", () =>
  withApi(dir, (url) => Effect.gen(function* () {
    yield* landBatch(url, [
      { type: "track", userId: "ann", event: "Wrote to other@acme.example", messageId: "a1" },
      { type: "track", userId: "ann", event: "Called +44 7700 900123", messageId: "a2" },
      { type: "track", userId: "ann", event: "Order Completed", messageId: "a3" },
    ], { identifier: "user_id:ann", events: 3 })
    const marketer = yield* createToken(url, { role: "marketer", tenant: "acme" })
    for (const name of ["Wrote to other@acme.example", "Wrote to nobody@acme.example", "Called +44 7700 900123"]) {
      const res = yield* callApi(url, "GET", events(name), marketer)
      expect(res.status, `${name}: ${JSON.stringify(res.body)}`).toBe(400)
      expect(res.body).toMatchObject({ success: false, rule: "masked_filter", field: "event" })
      expect(String(res.body["error"])).toContain("masked")
    }
    // A name holding neither is filtered as before.
    const plain = yield* callApi(url, "GET", events("Order Completed"), marketer)
    expect(plain.status).toBe(200)
    expect((plain.body["events"] as Array<{ event: string }>).map((e) => e.event)).toEqual(["Order Completed"])
    // A reader who sees the values filters by them.
    const admin = yield* callApi(url, "GET", events("Wrote to other@acme.example"), TEST_ADMIN_TOKEN)
    expect(admin.status).toBe(200)
    expect((admin.body["events"] as Array<{ event: string }>).map((e) => e.event)).toEqual(["Wrote to other@acme.example"])
  })), 120_000)

it("a masked reader's trait preview whose events hold an address or a +number is refused 400 masked_filter naming it", () =>
  withApi(dir, (url) => Effect.gen(function* () {
    yield* landBatch(url, [
      { type: "track", userId: "ann", event: "Wrote to other@acme.example", messageId: "a1" },
      { type: "track", userId: "ann", event: "Order Completed", messageId: "a3" },
    ], { identifier: "user_id:ann", events: 2 })
    const marketer = yield* createToken(url, { role: "marketer", tenant: "acme" })
    const preview = (token: string, events: ReadonlyArray<string>) =>
      callApi(url, "POST", "/v1/traits/preview", token, { definition: { name: "n", kind: "count", events } })
    for (const events of [["Order Completed", "Wrote to other@acme.example"], ["Called +44 7700 900123"]]) {
      const res = yield* preview(marketer, events)
      expect(res.status, JSON.stringify(res.body)).toBe(400)
      expect(res.body).toMatchObject({ success: false, rule: "masked_filter", field: `/definition/events/${events.length - 1}` })
    }
    // A name holding neither is previewed as before, and a reader who sees the values previews by them.
    const plain = yield* preview(marketer, ["Order Completed"])
    expect(plain.status, JSON.stringify(plain.body)).toBe(200)
    expect(plain.body).toMatchObject({ success: true, definition: { events: ["Order Completed"] } })
    const admin = yield* preview(TEST_ADMIN_TOKEN, ["Wrote to other@acme.example"])
    expect(admin.status, JSON.stringify(admin.body)).toBe(200)
    expect(admin.body).toMatchObject({ success: true, definition: { events: ["Wrote to other@acme.example"] } })
  })), 120_000)
