// What every ObjectStore backend must do, as the archive, replay, connector state, DSR bundles and the audit log
// rely on it: one suite, run against the local directory (always) and against S3 on MinIO (test/integration/).
import { Effect, type Layer } from "effect"
import { describe, expect, it } from "vitest"
import { ObjectStore, ObjectStoreError } from "../../ingest/objectstore.ts"

/** A large object: over the S3 store's part size, so it goes up in parts there. */
export const LARGE_OBJECT_BYTES = 12 * 1024 * 1024 + 3

export const largeBody = () => {
  const bytes = new Uint8Array(LARGE_OBJECT_BYTES)
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + (i >>> 13)) & 0xff
  return bytes
}

const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : Buffer.from(bytes).toString("utf8"))

/** `store` gives a fresh, empty store for each test. */
export const objectStoreContract = (name: string, store: () => Layer.Layer<ObjectStore, unknown>) => {
  const run = <A>(program: Effect.Effect<A, unknown, ObjectStore>) =>
    Effect.runPromise(Effect.scoped(program.pipe(Effect.provide(store()))))

  describe(`ObjectStore contract: ${name}`, () => {
    it("a missing object reads as undefined, not an error", () =>
      run(Effect.gen(function* () {
        const s = yield* ObjectStore
        expect(yield* s.get("archive/acme/social/2025-01-15/nothing.ndjson.gz")).toBeUndefined()
      })))

    it("reads back what was written, text as UTF-8 and bytes unchanged, empty objects included", () =>
      run(Effect.gen(function* () {
        const s = yield* ObjectStore
        yield* s.put("state/x/acme/q=1.json", '{"since":"ünï"}')
        yield* s.put("archive/acme/chat/2025-01-15/b-1.ndjson.gz", new Uint8Array([0, 255, 1, 254]))
        yield* s.put("empty.bin", new Uint8Array())
        expect(text(yield* s.get("state/x/acme/q=1.json"))).toBe('{"since":"ünï"}')
        expect(Array.from((yield* s.get("archive/acme/chat/2025-01-15/b-1.ndjson.gz"))!)).toEqual([0, 255, 1, 254])
        expect(yield* s.get("empty.bin")).toEqual(new Uint8Array())
      })))

    it("a second write replaces the object whole", () =>
      run(Effect.gen(function* () {
        const s = yield* ObjectStore
        yield* s.put("audit/head.json", "a much longer first version")
        yield* s.put("audit/head.json", "v2")
        expect(text(yield* s.get("audit/head.json"))).toBe("v2")
        expect(yield* s.list("audit/")).toEqual(["audit/head.json"])
      })))

    it("lists every key under a prefix, nested ones too, sorted; the prefix is a string prefix", () =>
      run(Effect.gen(function* () {
        const s = yield* ObjectStore
        const keys = [
          "archive/acme/social/2025-01-16/b.ndjson.gz", "archive/acme/social/2025-01-15/manifest.json",
          "archive/acme/social/2025-01-15/a.ndjson.gz", "archive/acme2/social/2025-01-15/a.ndjson.gz",
          "archive/globex/chat/2025-01-15/a.ndjson.gz", "dsr/bundles/acme/h1/r1.zip",
        ]
        for (const k of keys) yield* s.put(k, k)
        expect(yield* s.list("archive/acme/")).toEqual([
          "archive/acme/social/2025-01-15/a.ndjson.gz", "archive/acme/social/2025-01-15/manifest.json",
          "archive/acme/social/2025-01-16/b.ndjson.gz",
        ])
        expect(yield* s.list("archive/acme")).toHaveLength(4)
        expect(yield* s.list("")).toEqual([...keys].sort())
        expect(yield* s.list("consent/")).toEqual([])
      })))

    it("removes an object; removing a missing one succeeds", () =>
      run(Effect.gen(function* () {
        const s = yield* ObjectStore
        yield* s.put("dsr/bundles/acme/h1/r1.zip", "zip")
        yield* s.put("dsr/bundles/acme/h1/r2.zip", "zip")
        yield* s.remove("dsr/bundles/acme/h1/r1.zip")
        yield* s.remove("dsr/bundles/acme/h1/r1.zip")
        yield* s.remove("dsr/bundles/acme/never.zip")
        expect(yield* s.get("dsr/bundles/acme/h1/r1.zip")).toBeUndefined()
        expect(yield* s.list("dsr/")).toEqual(["dsr/bundles/acme/h1/r2.zip"])
      })))

    it("refuses a key that climbs out or is absolute, naming the key", () =>
      run(Effect.gen(function* () {
        const s = yield* ObjectStore
        for (const key of ["../escape", "/abs", "a/../b", "a b"]) {
          for (const attempt of [s.put(key, "x"), Effect.asVoid(s.get(key)), s.remove(key)]) {
            const error = yield* Effect.flip(attempt)
            expect(error).toBeInstanceOf(ObjectStoreError)
            expect(error.message).toContain(`invalid object key "${key}"`)
          }
        }
      })))

    it("round-trips a large object byte for byte", () =>
      run(Effect.gen(function* () {
        const s = yield* ObjectStore
        const body = largeBody()
        yield* s.put("archive/acme/calls/2025-01-15/large.ndjson.gz", body)
        const back = yield* s.get("archive/acme/calls/2025-01-15/large.ndjson.gz")
        expect(back?.length).toBe(body.length)
        expect(Buffer.compare(Buffer.from(back!), Buffer.from(body))).toBe(0)
      })))
  })
}
