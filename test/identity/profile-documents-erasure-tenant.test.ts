// An erasure keeps every other tenant's profile documents and cached answers. Its mutations (by fingerprints, through
// scratch tables) name no tenant a listener can read, so each one dropped every tenant's cached answers and made every
// tenant's documents untrusted, and the erasure emptied profile_documents whole: one tenant's erasure had every
// tenant's documents built again (at 1 million events about a minute of CPU) and their reads slowed meanwhile. Now an
// erasure's writes are told with their tenant (WritesOfTenant) and it deletes that tenant's documents only.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { Keys } from "../../consent/keys.ts"
import { eraseSubject } from "../../consent/registry.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { keepProfileDocuments, profileCacheStats } from "../../ingest/profile-read.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { withApi } from "../support/api.ts"
import { getChecked } from "../support/profile-api.ts"
import { eventOn } from "../support/events.ts"
import { untilDocumentsBuilt } from "../support/profile-documents.ts"
import { freshDir, query, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const documents = (tenant: string) =>
  query<{ profile_id: string; built: string }>("SELECT profile_id, toString(built) AS built FROM profile_documents FINAL WHERE tenant = {t:String} ORDER BY profile_id", { t: tenant })

describe("an erasure and the other tenants' profile documents", () => {
  it("keeps another tenant's documents and cached answers, and drops the erased person's", () =>
    withApi(dir, (url) => Effect.gen(function* () {
      const warehouse = yield* Warehouse
      yield* (yield* Pipeline).submit([
        eventOn("a1", 1, { type: "identify", userId: "u1", traits: { email: "erase.me@x.example" } }),
        eventOn("a2", 1, { type: "identify", userId: "u2", traits: { email: "keep@x.example" } }),
        ...Array.from({ length: 5 }, (_, i) => eventOn(`g${i}`, 1, { tenant: "globex", type: "identify", userId: `g${i}`, traits: { email: `g${i}@y.example` } })),
      ], [])
      keepProfileDocuments(warehouse)
      yield* untilDocumentsBuilt
      const globexBefore = yield* documents("globex")
      expect(globexBefore).toHaveLength(5)
      const read = (tenant: string, id: string) => getChecked(url, `/v1/profiles/${encodeURIComponent(id)}?tenant=${tenant}&events=5`)
      expect((yield* read("globex", "user_id:g1")).status).toBe(200)
      const cached = profileCacheStats(warehouse).hits
      expect((yield* read("globex", "user_id:g1")).status).toBe(200)
      expect(profileCacheStats(warehouse).hits, "globex's second read is answered from the cache").toBe(cached + 1)

      yield* eraseSubject(yield* resolveSubject("acme", "email:erase.me@x.example")).pipe(Effect.provide(Keys.fixed(new Uint8Array(32).fill(7))))
      yield* untilDocumentsBuilt
      expect((yield* read("globex", "user_id:g1")).status).toBe(200)
      expect(profileCacheStats(warehouse).hits, "globex's answer is still cached after acme's erasure").toBe(cached + 2)
      expect(yield* documents("globex"), "globex's documents were not built again").toEqual(globexBefore)
      expect((yield* read("acme", "user_id:u1")).status).toBe(404)
      expect((yield* read("acme", "user_id:u2")).status).toBe(200)
      expect(yield* query("SELECT profile_id FROM profile_documents WHERE tenant = 'acme' AND document LIKE '%erase.me%'")).toEqual([])
    })), 120_000)
})
