// The profile answer cache (ingest/profile-read.ts) keeps an answer no longer than the answer holds by itself: a
// restriction recorded to take effect later shows from that time, whether the answer was read or came from the
// profile's document (both end where the document ends: warehouse/profile-documents.ts answerEnd).
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { restrictSubject } from "../../consent/restriction.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { keepProfileDocuments, profileCacheStats, profileDocumentStats } from "../../ingest/profile-read.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { withApi } from "../support/api.ts"
import { eventOn } from "../support/events.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { getChecked } from "../support/profile-api.ts"
import { untilDocumentsBuilt } from "../support/profile-documents.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const restricted = (url: string, events: number) =>
  Effect.map(getChecked(url, `/v1/profiles/user_id%3Au1?tenant=acme&events=${events}`), (r) => r.body["consent"]["restricted"] as boolean)

/** Records u1's restriction to take effect `inMs` from now; when it does. */
const restrictLater = (inMs: number) =>
  Effect.gen(function* () {
    // Resolved first: `inMs` is for the reads before the restriction (a shared machine can be slow).
    const subject = yield* resolveSubject("acme", "user_id:u1")
    const from = Date.now() + inMs
    yield* restrictSubject(subject, true, "dsr_later", from)
    return from
  })

/** Reads twice before `from`, the second from the cache; then, once `from` has come, must be restricted. */
const keptUntil = (url: string, events: number, from: number) =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    expect(yield* restricted(url, events)).toBe(false)
    const hits = profileCacheStats(warehouse).hits
    expect(yield* restricted(url, events)).toBe(false)
    expect(profileCacheStats(warehouse).hits, "the answer before the restriction was kept").toBe(hits + 1)
    yield* Effect.sleep(Math.max(0, from - Date.now()) + 200)
    expect(yield* restricted(url, events), "restricted once the time recorded has come").toBe(true)
  })

describe("the profile answer cache in time", () => {
  it("keeps an answer read before a restriction recorded to take effect 2 s later no longer than until then", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      yield* (yield* Pipeline).submit([eventOn("m1", 1, { type: "identify", userId: "u1", traits: { email: "ann@x.example" } })], [])
      keepProfileDocuments(yield* Warehouse)
      yield* untilDocumentsBuilt
      // Read at once: the restriction made u1's document untrusted, so this answer is read as before (or from the
      // document built again, if that came first: it must end then too).
      yield* keptUntil(url, 10, yield* restrictLater(2000))
    })), 90_000)

  it("keeps an answer from the profile's document no longer than until a restriction recorded in advance takes effect", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const warehouse = yield* Warehouse
      yield* (yield* Pipeline).submit([eventOn("m1", 1, { type: "identify", userId: "u1", traits: { email: "ann@x.example" } })], [])
      keepProfileDocuments(warehouse)
      yield* untilDocumentsBuilt
      const from = yield* restrictLater(5000)
      yield* untilDocumentsBuilt
      const answered = profileDocumentStats(warehouse).answered
      yield* keptUntil(url, 11, from)
      expect(profileDocumentStats(warehouse).answered, "the first read came from the document").toBeGreaterThan(answered)
    })), 90_000)
})
