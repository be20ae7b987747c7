// The ObjectStore service: named blobs (archives, exports, connector state). A local directory by default;
// S3 (ingest/objectstore-s3.ts) behind the same interface, chosen in cli/layers.ts.
import { randomBytes } from "node:crypto"
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import { dirname, join, relative, resolve, sep } from "node:path"
import { Context, Data, Effect, Layer } from "effect"

export class ObjectStoreError extends Data.TaggedError("ObjectStoreError")<{
  readonly backend: string
  readonly key: string
  readonly message: string
  readonly cause?: unknown
}> {}

export interface ObjectStoreShape {
  readonly backend: { readonly kind: "local" | "s3"; readonly location: string }
  /** Writes atomically: readers see the old object or the new one, never half of it. */
  readonly put: (key: string, body: Uint8Array | string) => Effect.Effect<void, ObjectStoreError>
  /** The object's bytes, or undefined when there is no such object. */
  readonly get: (key: string) => Effect.Effect<Uint8Array | undefined, ObjectStoreError>
  /** Keys under a prefix ("a/b/"), sorted. */
  readonly list: (prefix: string) => Effect.Effect<ReadonlyArray<string>, ObjectStoreError>
  readonly remove: (key: string) => Effect.Effect<void, ObjectStoreError>
  /**
   * Whether the store answers now (/health asks it): undefined when it does, else why not, in one line naming the
   * store and never a credential. Absent: the store cannot be down apart from its disk (which /health checks).
   */
  readonly ping?: Effect.Effect<string | undefined>
}

export class ObjectStore extends Context.Service<ObjectStore, ObjectStoreShape>()("cdp/ObjectStore") {
  /** Objects as files under `root`; keys are relative paths with "/" separators. */
  static readonly local = (root: string) => Layer.sync(ObjectStore, () => makeLocalStore(resolve(root)))
}

const VALID_KEY = /^(?!\/)(?!.*(?:^|\/)\.\.?(?:\/|$))[A-Za-z0-9._\-=/]+$/

/** Every backend accepts the same keys, so a key that works on one works on the other. */
export const checkKey = (backend: string, key: string): Effect.Effect<string, ObjectStoreError> =>
  VALID_KEY.test(key)
    ? Effect.succeed(key)
    : Effect.fail(new ObjectStoreError({ backend, key, message: `invalid object key "${key}" (use a/b/c.ext, no "..")` }))

const makeLocalStore = (root: string): ObjectStoreShape => {
  const where = `local ${root}`
  const pathOf = (key: string) => Effect.map(checkKey(where, key), () => join(root, ...key.split("/")))
  const failure = (key: string) => (cause: unknown) =>
    new ObjectStoreError({ backend: where, key, message: cause instanceof Error ? cause.message : String(cause), cause })
  const walk = async (dir: string): Promise<Array<string>> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return []
      throw e
    })
    const nested = await Promise.all(entries.map((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : Promise.resolve(e.name.endsWith(".tmp") ? [] : [join(dir, e.name)])))
    return nested.flat()
  }
  return {
    backend: { kind: "local", location: root },
    put: (key, body) =>
      Effect.flatMap(pathOf(key), (path) =>
        Effect.tryPromise({
          try: async () => {
            await mkdir(dirname(path), { recursive: true })
            // Random, not the millisecond: two writes of one key in one millisecond shared a temporary file, and the
            // second rename found it gone (ENOENT).
            const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`
            await writeFile(tmp, body)
            await rename(tmp, path)
          },
          catch: failure(key),
        })),
    get: (key) =>
      Effect.flatMap(pathOf(key), (path) =>
        Effect.tryPromise({
          try: () => readFile(path).then((b) => new Uint8Array(b), (e: NodeJS.ErrnoException) => {
            if (e.code === "ENOENT") return undefined
            throw e
          }),
          catch: failure(key),
        })),
    list: (prefix) =>
      Effect.tryPromise({
        try: async () =>
          (await walk(root))
            .map((p) => relative(root, p).split(sep).join("/"))
            .filter((k) => k.startsWith(prefix))
            .sort(),
        catch: failure(prefix),
      }),
    remove: (key) =>
      Effect.flatMap(pathOf(key), (path) => Effect.tryPromise({ try: () => rm(path, { force: true }), catch: failure(key) })),
  }
}
