// Test support: waiting for a server's profile documents (ingest/profile-documents.ts) to be built.
import { Effect } from "effect"
import { expect } from "vitest"
import { profileDocumentStats } from "../../ingest/profile-read.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"

/** Waits until nothing is left to build of the server's profile documents (at most 60 s: the machine is shared); their stats then. */
export const untilDocumentsBuilt = Effect.gen(function* () {
  const warehouse = yield* Warehouse
  for (let i = 0; i < 1200 && !profileDocumentStats(warehouse).idle; i++) yield* Effect.sleep("50 millis")
  const stats = profileDocumentStats(warehouse)
  expect(stats.idle, `profile documents built within 60 s (still ${JSON.stringify(stats)})`).toBe(true)
  return profileDocumentStats(warehouse)
})
