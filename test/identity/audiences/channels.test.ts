// A condition naming a channel that does not exist ({"channel": "calls"}: the channel is "call") was saved and
// matched nobody, silently. The channels are a fixed set: an unknown one is refused at save and preview, naming the
// field and the channels there are. An audience saved before with one still loads, is refreshed, and that leaf
// matches nobody (its other branches still work).
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import {
  AudienceInvalid, checkAudienceCondition, createAudience, editAudience, getAudience, listAudiences, refreshAudiences,
} from "../../../identity/audiences/index.ts"
import { insertAudienceVersion } from "../../../warehouse/audiences.ts"
import { withConsent } from "../../consent/support.ts"
import { checkResponse } from "../../support/openapi.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"
import { AS_OF, landPeople, serveAudiences } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const CHANNELS = "web, email, chat, call, social"

const post = (base: string, template: string, body: unknown) =>
  Effect.promise(async () => {
    const res = await fetch(`${base}${template}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
    const answer = (await res.json()) as Record<string, any>
    checkResponse(template, "POST", res.status, answer)
    return { status: res.status, body: answer }
  })

describe("audience conditions name a channel there is", () => {
  it("an unknown channel is refused at save, edit and preview naming the field and the channels", () =>
    withConsent(dir, Effect.gen(function* () {
      const cases: ReadonlyArray<[unknown, string]> = [
        [{ channel: "calls" }, "condition/channel"],
        [{ event: "Order Completed", channel: "Web" }, "condition/channel"],
        [{ or: [{ trait: "plan", equals: "pro" }, { not: { channel: "sms", withinDays: 30 } }] }, "condition/or/1/not/channel"],
      ]
      for (const [condition, field] of cases) {
        const refused = yield* Effect.flip(createAudience("acme", { name: "A", purpose: "EmailMarketing", condition: condition as never }, "test"))
        expect(refused).toBeInstanceOf(AudienceInvalid)
        expect(refused).toMatchObject({ field, reason: expect.stringContaining(CHANNELS) })
        const checked = yield* checkAudienceCondition("acme", condition)
        expect(checked).toMatchObject({ field })
      }
      const made = yield* createAudience("acme", { name: "Callers", purpose: "EmailMarketing", condition: { channel: "call" } }, "test")
      const edit = yield* Effect.flip(editAudience("acme", made.id, { condition: { channel: "calls" } }, "test"))
      expect(edit).toMatchObject({ field: "condition/channel" })
      expect((yield* listAudiences("acme")).map((a) => a.name)).toEqual(["Callers"])

      const base = yield* serveAudiences({ tokenId: "admin-token", tenant: undefined })
      const saved = yield* post(base, "/v1/audiences", { tenant: "acme", name: "B", purpose: "EmailMarketing", condition: { channel: "calls" } })
      expect(saved.status).toBe(400)
      expect(saved.body).toMatchObject({ field: "/condition/channel", error: expect.stringContaining(CHANNELS) })
      const preview = yield* post(base, "/v1/audiences/preview", { tenant: "acme", purpose: "EmailMarketing", condition: { event: "X", channel: "calls" } })
      expect(preview.status).toBe(400)
      expect(preview.body).toMatchObject({ field: "/condition/channel", error: expect.stringContaining(`"calls"`) })
    })), 60_000)

  it("an audience saved before with an unknown channel still loads and refreshes; that leaf matches nobody", () =>
    withConsent(dir, Effect.gen(function* () {
      yield* landPeople
      const old = (id: string, condition: unknown) => insertAudienceVersion({
        tenant: "acme", audience_id: id, version: 1, name: id, purpose: "EmailMarketing", condition: JSON.stringify(condition), deleted: 0, actor: "test", note: "", atMs: AS_OF,
      })
      yield* old("aud_calls", { channel: "calls" })
      yield* old("aud_either", { or: [{ channel: "calls" }, { channel: "email" }] })
      expect(yield* getAudience("acme", "aud_calls")).not.toHaveProperty("invalid")
      const refreshed = yield* refreshAudiences({ tenant: "acme", asOfMs: AS_OF })
      // ann is the one with e-mail; nobody is on "calls".
      expect(refreshed).toMatchObject({ audiences: 2, entered: 1 })
      expect(refreshed.notRefreshed ?? []).toEqual([])
    })), 60_000)
})
