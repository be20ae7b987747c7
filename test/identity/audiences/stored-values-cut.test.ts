// What an audience stores of why a member entered or left (audience_members.why, audience_changes.cause, and the cause
// of the Audience Entered/Exited event it emits) cuts each condition's text and value seen at 200 characters, as a
// preview shows them. Seen probing cdp serve: an audience {"trait": "nick", "exists": true} stored a member's whole
// 60,000-character nickname in its why and its entry's cause, and emitted it in the event: GET .../members and
// .../changes answered 60 KB for one member, and a page of 10,000 such members would be 600 MB.
import { Effect } from "effect"
import { afterEach, beforeEach, expect, it } from "vitest"
import type { CanonicalEvent } from "../../../ingest/message.ts"
import { audienceChangesSince, audienceMembers, createAudience, refreshAudiences } from "../../../identity/audiences/index.ts"
import { ALL, prefs, submit, web, withConsent } from "../../consent/support.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"
import { AS_OF } from "./support.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

it("a member's why, its entry's cause and the emitted event hold at most 200 characters of a value", () =>
  withConsent(dir, Effect.gen(function* () {
    const nick = "z".repeat(60_000)
    yield* submit([web("ann-id", new Date(AS_OF - 86_400_000).toISOString(), { userId: "ann", type: "identify", event: "", traits: { nick }, context: prefs(ALL(true)) })])
    const { id } = yield* createAudience("acme", { name: "Nicknamed", purpose: "Analytics", condition: { trait: "nick", exists: true } }, "test")
    const emitted: Array<CanonicalEvent> = []
    yield* refreshAudiences({ tenant: "acme", emit: (events) => Effect.sync(() => { emitted.push(...events) }), asOfMs: AS_OF })

    const { members } = yield* audienceMembers("acme", id)
    expect(members).toHaveLength(1)
    const why = members[0]!.why as ReadonlyArray<{ value: string }>
    expect(why[0]!.value.length).toBeLessThanOrEqual(201)
    expect(why[0]!.value.startsWith(`"${"z".repeat(150)}`)).toBe(true)
    const { changes } = yield* audienceChangesSince("acme", id, "", 10)
    expect(changes).toHaveLength(1)
    expect(changes[0]!.cause.length).toBeLessThan(300)
    expect(emitted).toHaveLength(1)
    expect(String(emitted[0]!.properties["cause"]).length).toBeLessThan(300)
  })), 60_000)
