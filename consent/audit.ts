// The tamper-evident audit log of data-subject requests, and their signed receipts. Each entry holds the previous
// entry's hash (a hash chain) and is signed with this deployment's Ed25519 key, so an edited, reordered or removed
// entry breaks the chain where it happened; a signed head names the last entry, so removing entries from the end shows
// too. Entries are objects in the object store (audit/log/<seq>.json), apart from every subject's data: they hold keyed
// hashes of identifiers and counts, never personal data, and survive the erasures they record.
//
// What this proves, and against whom: someone who edits the object store without the signing key (a backup restored
// over it, a careless script, an attacker with the bucket) is caught by `cdp audit verify`. Someone with the data
// directory's key could re-sign a rewritten log; receipts handed out (each names the chain's head when it was signed)
// are the outside anchor against that.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Data, Effect, Semaphore } from "effect"
import { ObjectStore, type ObjectStoreError } from "../ingest/objectstore.ts"

export const AUDIT_LOG_PREFIX = "audit/log/"
export const AUDIT_HEAD_KEY = "audit/head.json"
/** The signing key, in the data directory (0600), never in the object store beside what it signs. */
export const AUDIT_KEY_FILE = "audit-signing-key.pem"
const GENESIS = "0".repeat(64)

export class AuditKeyUnusable extends Data.TaggedError("AuditKeyUnusable")<{ readonly file: string; readonly reason: string }> {
  override get message() {
    return `the audit signing key ${this.file} cannot be used: ${this.reason}`
  }
}

/** JSON with object keys sorted at every level: the bytes a hash or signature covers do not depend on key order. */
export const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value).sort().filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`
  }
  return JSON.stringify(value)
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

export interface AuditSigner {
  /** SHA-256 of the public key (SPKI DER), hex: names the key in entries and receipts. */
  readonly keyId: string
  readonly publicKeyPem: string
  readonly sign: (text: string) => string
  readonly verify: (text: string, signature: string) => boolean
}

const signerOf = (privateKey: KeyObject): AuditSigner => {
  const publicKey = createPublicKey(privateKey)
  return {
    keyId: createHash("sha256").update(publicKey.export({ type: "spki", format: "der" })).digest("hex"),
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    sign: (text) => sign(null, Buffer.from(text), privateKey).toString("base64url"),
    verify: (text, signature) => {
      try {
        return verify(null, Buffer.from(text), publicKey, Buffer.from(signature, "base64url"))
      } catch {
        return false
      }
    },
  }
}

/** The data directory's audit signing key (Ed25519), created on first use, readable by its owner only. */
export const auditSigner = (dataDir: string): Effect.Effect<AuditSigner, AuditKeyUnusable> =>
  Effect.try({
    try: () => {
      const file = join(dataDir, AUDIT_KEY_FILE)
      let pem: string
      try {
        pem = readFileSync(file, "utf8")
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e
        const { privateKey } = generateKeyPairSync("ed25519")
        try {
          // "wx": two processes starting at once keep the first key, never overwrite it.
          writeFileSync(file, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600, flag: "wx" })
        } catch (w) {
          if ((w as NodeJS.ErrnoException).code !== "EEXIST") throw w
        }
        pem = readFileSync(file, "utf8")
      }
      return signerOf(createPrivateKey(pem))
    },
    catch: (e) => new AuditKeyUnusable({ file: join(dataDir, AUDIT_KEY_FILE), reason: (e as Error).message }),
  })

export interface AuditEntry {
  readonly seq: number
  /** ISO-8601 UTC. */
  readonly at: string
  /** What happened: dsr.received, dsr.running, dsr.completed, dsr.failed. */
  readonly kind: string
  readonly tenant: string
  readonly requestId: string
  /** Keyed hashes, counts, times: never personal data. */
  readonly data: Readonly<Record<string, unknown>>
  readonly prevHash: string
  readonly keyId: string
  /** SHA-256 of the canonical JSON of every field above. */
  readonly hash: string
  /** Ed25519 signature of `hash`. */
  readonly signature: string
}

interface Head {
  readonly seq: number
  readonly hash: string
  readonly keyId: string
  readonly signature: string
}

export const entryKey = (seq: number) => `${AUDIT_LOG_PREFIX}${String(seq).padStart(12, "0")}.json`

const hashOf = (e: Omit<AuditEntry, "hash" | "signature">) =>
  sha256(canonicalJson({ seq: e.seq, at: e.at, kind: e.kind, tenant: e.tenant, requestId: e.requestId, data: e.data, prevHash: e.prevHash, keyId: e.keyId }))

const headText = (seq: number, hash: string) => canonicalJson({ seq, hash })

const readJson = (bytes: Uint8Array | undefined): unknown => {
  if (bytes === undefined) return undefined
  try {
    return JSON.parse(Buffer.from(bytes).toString("utf8"))
  } catch {
    return null
  }
}

/** One writer at a time in this process (the data directory's lock keeps other processes out). */
const appending = Semaphore.makeUnsafe(1)

/**
 * The last entry's seq and hash: the signed head, moved on to an entry written after it when a crash came between
 * writing that entry and the head (the entry must follow the head and carry a valid signature).
 */
const tipOf = (signer: AuditSigner) =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    const head = readJson(yield* store.get(AUDIT_HEAD_KEY)) as Head | undefined | null
    let tip = head === undefined || head === null ? { seq: 0, hash: GENESIS } : { seq: head.seq, hash: head.hash }
    for (;;) {
      const next = readJson(yield* store.get(entryKey(tip.seq + 1))) as AuditEntry | undefined | null
      if (next === undefined || next === null || next.prevHash !== tip.hash || hashOf(next) !== next.hash || !signer.verify(next.hash, next.signature)) break
      tip = { seq: next.seq, hash: next.hash }
    }
    return tip
  })

/** Appends one entry to the chain and moves the signed head to it. */
export const appendAudit = (signer: AuditSigner, entry: {
  readonly kind: string
  readonly tenant: string
  readonly requestId: string
  readonly data: Readonly<Record<string, unknown>>
  readonly atMs?: number
}): Effect.Effect<AuditEntry, ObjectStoreError, ObjectStore> =>
  appending.withPermits(1)(Effect.gen(function* () {
    const store = yield* ObjectStore
    const tip = yield* tipOf(signer)
    const body = {
      seq: tip.seq + 1, at: new Date(entry.atMs ?? Date.now()).toISOString(), kind: entry.kind, tenant: entry.tenant,
      requestId: entry.requestId, data: entry.data, prevHash: tip.hash, keyId: signer.keyId,
    }
    const hash = hashOf(body)
    const written: AuditEntry = { ...body, hash, signature: signer.sign(hash) }
    yield* store.put(entryKey(written.seq), JSON.stringify(written))
    const head: Head = { seq: written.seq, hash, keyId: signer.keyId, signature: signer.sign(headText(written.seq, hash)) }
    yield* store.put(AUDIT_HEAD_KEY, JSON.stringify(head))
    return written
  }))

/** Every entry in the order of its key (a damaged entry is skipped: verifyAudit names it). */
export const readAudit = Effect.gen(function* () {
  const store = yield* ObjectStore
  const keys = yield* store.list(AUDIT_LOG_PREFIX)
  const entries: Array<AuditEntry> = []
  for (const key of keys) {
    const e = readJson(yield* store.get(key))
    if (e !== undefined && e !== null && typeof e === "object") entries.push(e as AuditEntry)
  }
  return entries
})

/** The entries about one request, in order: its audit trail. */
export const auditTrail = (requestId: string) =>
  Effect.map(readAudit, (entries) => entries.filter((e) => e.requestId === requestId))

export interface AuditProblem {
  readonly seq: number
  readonly key: string
  readonly problem: string
}

export interface AuditVerification {
  readonly ok: boolean
  readonly entries: number
  readonly headSeq: number
  readonly headHash: string
  readonly keyId: string
  readonly problems: ReadonlyArray<AuditProblem>
}

/** Checks the whole chain: every entry's hash and signature, its place (seq) and link to the one before, and the head. */
export const verifyAudit = (signer: AuditSigner): Effect.Effect<AuditVerification, ObjectStoreError, ObjectStore> =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    const keys = yield* store.list(AUDIT_LOG_PREFIX)
    const problems: Array<AuditProblem> = []
    let prev = { seq: 0, hash: GENESIS }
    const hashes = new Map<number, string>()
    for (const key of keys) {
      const keySeq = Number(/(\d+)\.json$/.exec(key)?.[1] ?? Number.NaN)
      const e = readJson(yield* store.get(key)) as AuditEntry | null | undefined
      if (e === null || e === undefined || typeof e !== "object" || typeof e.hash !== "string") {
        problems.push({ seq: keySeq, key, problem: "edited: the entry is not a readable audit entry" })
        prev = { seq: keySeq, hash: "" }
        continue
      }
      if (!Number.isInteger(keySeq) || keySeq !== prev.seq + 1) {
        problems.push({ seq: keySeq, key, problem: `removed: entries ${prev.seq + 1}..${keySeq - 1} are missing before this one` })
      }
      if (e.seq !== keySeq) {
        problems.push({ seq: keySeq, key, problem: `reordered: the entry stored at position ${keySeq} is entry ${e.seq}` })
      }
      if (hashOf(e) !== e.hash) {
        problems.push({ seq: keySeq, key, problem: "edited: its content does not match its hash" })
      } else if (e.keyId !== signer.keyId || !signer.verify(e.hash, e.signature)) {
        problems.push({ seq: keySeq, key, problem: "not signed by this deployment's audit key" })
      }
      if (e.prevHash !== prev.hash && prev.hash !== "") {
        problems.push({ seq: keySeq, key, problem: `broken chain: it does not follow the entry before it (${prev.seq}): one was edited, removed or moved` })
      }
      prev = { seq: keySeq, hash: e.hash }
      hashes.set(keySeq, e.hash)
    }
    const head = readJson(yield* store.get(AUDIT_HEAD_KEY)) as Head | null | undefined
    if (head === undefined || head === null) {
      if (keys.length > 0) problems.push({ seq: prev.seq, key: AUDIT_HEAD_KEY, problem: "the signed head is missing" })
    } else if (!signer.verify(headText(head.seq, head.hash), head.signature)) {
      problems.push({ seq: head.seq, key: AUDIT_HEAD_KEY, problem: "the head is not signed by this deployment's audit key" })
    } else if (head.seq > prev.seq) {
      problems.push({ seq: head.seq, key: AUDIT_HEAD_KEY, problem: `removed: the signed head names entry ${head.seq} but the log ends at ${prev.seq}` })
    } else if (hashes.get(head.seq) !== head.hash) {
      problems.push({ seq: head.seq, key: AUDIT_HEAD_KEY, problem: `replaced: entry ${head.seq} is not the one the signed head names` })
    }
    // Entries past the head are an append in progress (the head is written after its entry): each was checked above.
    return {
      ok: problems.length === 0, entries: keys.length, headSeq: head?.seq ?? 0, headHash: head?.hash ?? GENESIS,
      keyId: signer.keyId, problems,
    }
  })

/** A receipt signed with the audit key: `{...receipt, keyId, signature}`. */
export const signReceipt = <R extends Record<string, unknown>>(signer: AuditSigner, receipt: R) =>
  ({ ...receipt, keyId: signer.keyId, signature: signer.sign(canonicalJson({ ...receipt, keyId: signer.keyId })) })

/** Whether a receipt (as signReceipt made it) is unchanged and signed by this key. */
export const verifyReceipt = (signer: AuditSigner, signed: Record<string, unknown>): boolean => {
  const { signature, ...rest } = signed
  return typeof signature === "string" && rest.keyId === signer.keyId && signer.verify(canonicalJson(rest), signature)
}
