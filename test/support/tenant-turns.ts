// Test support: another tenant's message sent while acme's work is in the pipeline, as the tenant-turn tests send it:
// once the in-process bus has acme's events pending, globex posts one track; how many of acme's had landed when it was
// answered tells whether it waited for one turn or for all of acme's work.
import { Effect } from "effect"
import { expect } from "vitest"
import { EventBus, Topics } from "../../ingest/bus.ts"
import { basicAuth, OTHER_TENANT_KEY, post, query } from "./pipeline.ts"

/** Waits until acme's events are in the pipeline, sends globex's one track (answered 200) and counts acme's landed then. */
export const acmeLandedWhenGlobexIsAnswered = (url: string) =>
  Effect.gen(function* () {
    const bus = yield* EventBus
    for (;;) {
      if (((yield* bus.pending)[Topics.events.name] ?? 0) > 0) break
      yield* Effect.sleep("5 millis")
    }
    const globex = yield* post(`${url}/v1/track`, { userId: "g1", event: "Ping", messageId: "g1" }, { authorization: basicAuth(OTHER_TENANT_KEY) })
    expect(globex).toEqual({ status: 200, body: { success: true, accepted: 1 } })
    const landed = yield* query<{ n: string }>("SELECT count() AS n FROM events WHERE tenant = 'acme'")
    return Number(landed[0]!.n)
  })
