// Two writes of one key at once both succeed, the last one whole. Found probing cdp serve: two erasures of one tenant
// posted together failed one of them with "ObjectStoreError: ENOENT: no such file or directory, rename
// '.../archive/acme/segment/2026-12-05/...ndjson.gz.31339.1796461273401.tmp' -> '...ndjson.gz'": the local store named
// its temporary file by the process id and the millisecond, so two writes of one key in one millisecond wrote one
// temporary file, and the second rename found it gone. (Erasures of a tenant now run one at a time; other writers of
// one key, as the archive writer's and an erasure's manifest, still may meet.)
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { ObjectStore } from "../../ingest/objectstore.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir("cdp-objects-") })
afterEach(() => removeDir(dir))

describe("the local object store", () => {
  it("takes two writes of one key at once; the key holds one of them whole", () =>
    Effect.runPromise(Effect.gen(function* () {
      const store = yield* ObjectStore
      const bodies = Array.from({ length: 8 }, (_, i) => `body ${i} `.repeat(10_000))
      yield* Effect.all(bodies.map((b) => store.put("archive/acme/m.json", b)), { concurrency: "unbounded" })
      const got = Buffer.from((yield* store.get("archive/acme/m.json"))!).toString("utf8")
      expect(bodies).toContain(got)
      expect(yield* store.list("archive/acme/")).toEqual(["archive/acme/m.json"])
    }).pipe(Effect.provide(ObjectStore.local(dir)))))
})
