// Consent by construction, on the dev set against its ground truth: the whole dev set lands through the connectors,
// then for every purpose an audience of everyone seen on any channel is refreshed; its members are exactly the
// profiles consent/ hands out for that purpose among them (never one more), and no member holds a person whose final
// consent lacks the purpose, but for people the data alone cannot tell apart (test/support/devset-truth.ts judges
// them from the raw messages, as test/consent/devset.test.ts does).
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { consentingProfiles, DEFAULT_POLICY } from "../../../consent/index.ts"
import { audienceMembers, createAudience, refreshAudiences } from "../../../identity/audiences/index.ts"
import { Warehouse } from "../../../warehouse/warehouse.ts"
import { choices, landDevSet, personOfItem, persons, TRUTH_PURPOSES as PURPOSES, untellable } from "../../support/devset-truth.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"

const ANYONE = { or: ["web", "email", "chat", "call", "social"].map((channel) => ({ channel })) }

let dir: string
beforeAll(() => {
  dir = freshDir()
  landDevSet(join(dir, "data"))
}, 400_000)
afterAll(() => removeDir(dir))

describe("audiences on the dev set against its consent ground truth", () => {
  it("an audience for a purpose never holds a person without that consent (but for people the data cannot tell apart)", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const warehouse = yield* Warehouse
      const ids = new Map<string, string>()
      for (const purpose of PURPOSES) {
        ids.set(purpose, (yield* createAudience("default", { name: `Everyone (${purpose})`, purpose, condition: ANYONE }, "test")).id)
      }
      const summary = yield* refreshAudiences({ tenant: "default" })
      expect(summary.entered).toBeGreaterThan(0)
      const rows = yield* warehouse.query<{ message_id: string; profile_id: string }>("SELECT message_id, profile_id FROM events WHERE tenant = 'default'")
      const peopleOf = new Map<string, Set<string>>()
      /** Per profile, the people whose messages stating a choice it holds. */
      const choosersOf = new Map<string, Set<string>>()
      for (const r of rows) {
        const person = personOfItem.get(r.message_id)
        if (person === undefined) continue
        peopleOf.set(r.profile_id, (peopleOf.get(r.profile_id) ?? new Set()).add(person))
        if (choices.has(r.message_id)) choosersOf.set(r.profile_id, (choosersOf.get(r.profile_id) ?? new Set()).add(person))
      }
      const figures: Record<string, unknown> = {}
      for (const purpose of PURPOSES) {
        const members = (yield* audienceMembers("default", ids.get(purpose)!, "", 10_000)).members.map((m) => m.profileId)
        const allowed = new Set(yield* consentingProfiles("default", purpose))
        const withEvents = new Set(rows.map((r) => r.profile_id))
        // Exactly consent's profiles among those with events: not one more, not one fewer.
        expect(members.filter((p) => !allowed.has(p)), purpose).toEqual([])
        expect(members.length, purpose).toBe([...allowed].filter((p) => withEvents.has(p)).length)
        const consentBased = DEFAULT_POLICY.purposes[purpose]!.basis === "consent"
        const lacks = (person: string) => consentBased ? persons.get(person)!.consent[purpose] !== true : persons.get(person)!.consent[purpose] === false
        const lacking = new Set(members.flatMap((p) => [...peopleOf.get(p) ?? []].filter(lacks)))
        const people = new Set(members.flatMap((p) => [...peopleOf.get(p) ?? []]))
        const apart = [...lacking].filter((person) => untellable(persons.get(person)!))
        // A legitimate interest holds unless the person objected: what must never be a member is a profile holding the
        // objection's own messages (a part of an objector nothing ties to it is used until identity ties it).
        const violating = [...lacking].filter((person) => !apart.includes(person) &&
          (consentBased || members.some((p) => choosersOf.get(p)?.has(person) === true)))
        figures[purpose] = { members: members.length, people: people.size, lackingInTruth: lacking.size, untellable: apart.length }
        expect(violating, purpose).toEqual([])
        expect(people.size, purpose).toBeGreaterThan(0)
      }
      console.log(`audiences on the dev set: ${JSON.stringify(figures)}`)
    })).pipe(Effect.provide(Layer.fresh(Warehouse.embedded(join(dir, "data", "clickhouse")))))), 300_000)
})
