// A computed trait's `channels` must name channels (web, email, chat, call, social), as an audience condition's must.
// Seen probing cdp serve: POST /v1/traits/preview with "channels": ["calls"] (the source is named calls, the channel
// call) answered 200 with 0 profiles, as if nobody had called, and CDP_COMPUTED_TRAITS took it, computing 0 forever;
// the audience preview of {"channel": "calls"} was 400 naming /condition/channel.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { parseComputedTraits, parseDefinition } from "../../identity/index.ts"
import { IdentityRulesInvalid } from "../../identity/config.ts"
import { callApi, TEST_ADMIN_TOKEN, withApi } from "../support/api.ts"
import { checkResponse } from "../support/openapi.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const refusal = (f: () => unknown): { field: string; problem: string } | undefined => {
  try {
    f()
    return undefined
  } catch (e) {
    expect(e).toBeInstanceOf(IdentityRulesInvalid)
    return { field: (e as IdentityRulesInvalid).field, problem: (e as IdentityRulesInvalid).problem }
  }
}

describe("a computed trait's channels", () => {
  it("a definition naming no channel is refused naming the entry and the channels there are", () => {
    const r = refusal(() => parseDefinition(JSON.stringify({ name: "calls_30d", kind: "count", channels: ["web", "calls"], windowDays: 30 })))
    expect(r).toEqual({ field: "/channels/1", problem: '"calls" is not a channel: one of web, email, chat, call, social' })
    expect(parseDefinition(JSON.stringify({ name: "calls_30d", kind: "count", channels: ["call", "chat"] })).channels).toEqual(["call", "chat"])
  })

  it("CDP_COMPUTED_TRAITS naming no channel is refused naming its pointer", () => {
    const r = refusal(() => parseComputedTraits(JSON.stringify({ "*": [{ name: "n", kind: "count" }], acme: [{ name: "mood", kind: "latest_sentiment", channels: ["mail"] }] })))
    expect(r).toEqual({ field: "/acme/0/channels/0", problem: '"mail" is not a channel: one of web, email, chat, call, social' })
    expect(parseComputedTraits(JSON.stringify({ acme: [{ name: "mood", kind: "latest_sentiment", channels: ["chat", "email"] }] }))["acme"]).toHaveLength(1)
  })
})

describe("POST /v1/traits/preview", () => {
  let dir: string
  beforeEach(() => { dir = freshDir() })
  afterEach(() => removeDir(dir))

  it("a definition naming no channel is 400 bad_definition naming /definition/channels/N", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const res = yield* callApi(url, "POST", "/v1/traits/preview?tenant=acme", TEST_ADMIN_TOKEN, { definition: { name: "calls", kind: "count", channels: ["calls"] } })
      checkResponse("/v1/traits/preview", "POST", res.status, res.body)
      expect(res).toMatchObject({ status: 400, body: { success: false, rule: "bad_definition", field: "/definition/channels/0" } })
      expect(res.body.error).toContain('"calls" is not a channel: one of web, email, chat, call, social')
    })), 60_000)
})
