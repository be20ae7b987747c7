// Probe (h7): an erased person's profile documents. After an erasure no read by any of their identifiers (user id,
// e-mail, a merged visitor's anonymous id, the profile id) shows anything of them, profile_documents holds nothing
// of them, and another tenant's person with the same user id is still answered as before.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Keys } from "../../consent/keys.ts"
import { eraseSubject } from "../../consent/registry.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { defaultIdentityConfig } from "../../identity/index.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { keepProfileDocuments, readProfile } from "../../ingest/profile-read.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { withApi } from "../support/api.ts"
import { getChecked } from "../support/profile-api.ts"
import { eventOn } from "../support/events.ts"
import { untilDocumentsBuilt } from "../support/profile-documents.ts"
import { freshDir, query, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const identity = defaultIdentityConfig()

const read = (url: string, tenant: string, identifier: string, events: number) =>
  getChecked(url, `/v1/profiles/${encodeURIComponent(identifier)}?tenant=${tenant}&events=${events}`)

describe("profile documents of an erased person", () => {
  it("answer no identifier of theirs, hold nothing of theirs, and leave another tenant's documents answering", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const warehouse = yield* Warehouse
      yield* (yield* Pipeline).submit([
        eventOn("a1", 1, { type: "identify", userId: "u1", traits: { email: "erase.me@x.example", name: "Ann Probe" } }),
        eventOn("a2", 2, { anonymousId: "visitor7", traits: { city: "Leeds" } }),
        eventOn("a3", 3, { userId: "u1", anonymousId: "visitor7", event: "Order Completed" }),
        eventOn("b1", 1, { type: "identify", userId: "u2", traits: { email: "keep@x.example" } }),
        eventOn("g1", 1, { tenant: "globex", type: "identify", userId: "u1", traits: { email: "erase.me@x.example", name: "Globex Ann" } }),
      ], [])
      keepProfileDocuments(warehouse)
      yield* untilDocumentsBuilt
      const profileId = (yield* read(url, "acme", "user_id:u1", 5)).body["profileId"] as string
      const identifiers = ["user_id:u1", "email:erase.me@x.example", "anonymous_id:visitor7", profileId]
      for (const id of identifiers) expect((yield* read(url, "acme", id, 6)).status, id).toBe(200)
      const globexBefore = (yield* read(url, "globex", "user_id:u1", 7)).body
      expect(globexBefore["traits"]["name"]).toMatchObject({ value: "Globex Ann" })

      yield* eraseSubject(yield* resolveSubject("acme", "email:erase.me@x.example")).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(7))))
      // Right after, and once the documents are built again: nothing of them by any identifier.
      for (const events of [8, 9]) {
        for (const id of identifiers) expect((yield* read(url, "acme", id, events)).status, `${id} events=${events}`).toBe(404)
        if (events === 8) yield* untilDocumentsBuilt
      }
      const holding = yield* query<{ tenant: string; profile_id: string }>(
        "SELECT tenant, profile_id FROM profile_documents WHERE tenant = 'acme' AND (profile_id = {p:String} OR document LIKE '%erase.me%' " +
          "OR document LIKE '%visitor7%' OR document LIKE '%Ann Probe%' OR document LIKE '%\"a1\"%' OR document LIKE '%\"a3\"%')", { p: profileId })
      expect(holding).toEqual([])
      // The other person of the tenant, and globex's u1 (same user id and address, another tenant), are answered as before.
      expect((yield* read(url, "acme", "user_id:u2", 10)).body).toEqual(yield* readProfile("acme", "user_id:u2", 10, identity))
      const globexAfter = (yield* read(url, "globex", "user_id:u1", 11)).body
      expect(globexAfter).toEqual(yield* readProfile("globex", "user_id:u1", 11, identity))
      expect(globexAfter["traits"]["name"]).toMatchObject({ value: "Globex Ann" })
    })), 120_000)
})
