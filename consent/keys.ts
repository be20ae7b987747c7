// The deployment's keyed hash (HMAC-SHA256): identifiers in the suppression list, receipts and the audit log are
// stored as keyed hashes, never in the clear. Without the secret nobody can test a guessed e-mail address against
// them (a plain SHA-256 of an address can be brute-forced from a list of addresses), and the same identifier always
// hashes the same within a deployment, so joins and distinct counts keep working.
import { createHmac, createSecretKey, randomBytes } from "node:crypto"
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Context, Data, Effect, Layer } from "effect"

/** The file in the data directory that holds the secret (32 random bytes, mode 0600, made on first use). */
export const SECRET_FILE = "keyed-hash.key"

export class KeysUnavailable extends Data.TaggedError("KeysUnavailable")<{ readonly file: string; readonly reason: string }> {
  override get message() {
    return `cannot read or create the keyed-hash secret ${this.file}: ${this.reason}`
  }
}

export interface KeysShape {
  /** Hex HMAC-SHA256 of `text` under the deployment's hashing key. */
  readonly hash: (text: string) => string
  /** Hex HMAC-SHA256 of `text` under a key derived for signing (receipts, audit entries): a signature is never a hash. */
  readonly sign: (text: string) => string
  /** A 32-byte key derived from the secret for one use (`label`), e.g. wrapping the Kafka bus's data keys. */
  readonly derive: (label: string) => Uint8Array
}

export class Keys extends Context.Service<Keys, KeysShape>()("cdp/Keys") {
  /** The secret kept in `dataDir` (created 0600 on first use). */
  static readonly fromDataDir = (dataDir: string) => Layer.effect(Keys, Effect.map(loadSecret(dataDir), makeKeys))
  /** A given secret (tests). */
  static readonly fixed = (secret: Uint8Array) => Layer.succeed(Keys, makeKeys(secret))
}

export const makeKeys = (secret: Uint8Array): KeysShape => {
  // Key objects made once: an HMAC given raw key bytes imports them on every call, which cost about 25 µs a hash
  // (3 µs with a key object) and was the largest single cost of the consent stage (it hashes each message's device).
  const hashKey = createSecretKey(createHmac("sha256", secret).update("cdp keyed hash v1").digest())
  const signKey = createSecretKey(createHmac("sha256", secret).update("cdp signature v1").digest())
  return {
    hash: (text) => createHmac("sha256", hashKey).update(text, "utf8").digest("hex"),
    sign: (text) => createHmac("sha256", signKey).update(text, "utf8").digest("hex"),
    // A separate HMAC of the secret per label: a derived key is never one of the stored hashes or signatures.
    derive: (label) => new Uint8Array(createHmac("sha256", secret).update(`cdp derived key v1\u0000${label}`).digest()),
  }
}

/** Reads the secret, or makes it: `wx` so two processes starting together cannot both write one. */
export const loadSecret = (dataDir: string): Effect.Effect<Uint8Array, KeysUnavailable> =>
  Effect.try({
    try: () => {
      const file = join(dataDir, SECRET_FILE)
      mkdirSync(dataDir, { recursive: true, mode: 0o700 })
      try {
        writeFileSync(file, randomBytes(32), { flag: "wx", mode: 0o600 })
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
      }
      chmodSync(file, 0o600)
      const secret = readFileSync(file)
      if (secret.length < 32) throw new Error(`it holds ${secret.length} bytes, not 32`)
      return new Uint8Array(secret)
    },
    catch: (e) => new KeysUnavailable({ file: join(dataDir, SECRET_FILE), reason: (e as Error).message }),
  })

/**
 * The keyed hash of one normalised identifier of a tenant: what suppression, receipts and the audit log store in
 * its place (the same identifier always gives the same key within a deployment and tenant).
 */
export const identifierKey = (keys: KeysShape, tenant: string, kind: string, value: string): string =>
  keys.hash(`${tenant}\u0000${kind}:${value}`)
