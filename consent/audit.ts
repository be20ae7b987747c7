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

// A request's entries are found through an index object per request (audit/index/request/<id>.json: the seqs of
// its entries), so its trail is a few reads however long the log grows. The index is written before the entry: a crash
// between the two leaves a seq with no entry (or another request's), which readers skip. Logs written before the index
// existed are indexed once, by the first append that finds no marker; until then readers scan.
const INDEX_MARKER = "audit/index/requests.json"
const requestIndexKey = (requestId: string) => `audit/index/request/${requestId}.json`
const INDEXABLE_ID = /^[A-Za-z0-9_-]{1,100}$/

const readSeqs = (bytes: Uint8Array | undefined): Array<number> => {
  const v = readJson(bytes) as { seqs?: unknown } | undefined | null
  return Array.isArray(v?.seqs) ? v.seqs.filter((n): n is number => Number.isInteger(n)) : []
}

const ensureRequestIndex = Effect.gen(function* () {
  const store = yield* ObjectStore
  // One small read per append (appends are a DSR's few steps and the access log's batches), never cached: another
  // process may have replaced the store's contents (a restore) since.
  if ((yield* store.get(INDEX_MARKER)) === undefined) {
    const byRequest = new Map<string, Array<number>>()
    for (const key of yield* store.list(AUDIT_LOG_PREFIX)) {
      const e = readJson(yield* store.get(key)) as AuditEntry | undefined | null
      if (e === undefined || e === null || typeof e !== "object" || typeof e.requestId !== "string" || !INDEXABLE_ID.test(e.requestId)) continue
      const seqs = byRequest.get(e.requestId) ?? []
      seqs.push(e.seq)
      byRequest.set(e.requestId, seqs)
    }
    yield* Effect.forEach([...byRequest], ([id, seqs]) => store.put(requestIndexKey(id), JSON.stringify({ seqs })), { concurrency: 16, discard: true })
    yield* store.put(INDEX_MARKER, JSON.stringify({ version: 1, builtAt: new Date().toISOString() }))
  }
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
    yield* ensureRequestIndex
    const tip = yield* tipOf(signer)
    const body = {
      seq: tip.seq + 1, at: new Date(entry.atMs ?? Date.now()).toISOString(), kind: entry.kind, tenant: entry.tenant,
      requestId: entry.requestId, data: entry.data, prevHash: tip.hash, keyId: signer.keyId,
    }
    const hash = hashOf(body)
    const written: AuditEntry = { ...body, hash, signature: signer.sign(hash) }
    if (INDEXABLE_ID.test(entry.requestId)) {
      const seqs = readSeqs(yield* store.get(requestIndexKey(entry.requestId)))
      yield* store.put(requestIndexKey(entry.requestId), JSON.stringify({ seqs: [...seqs.filter((n) => n !== written.seq), written.seq] }))
    }
    yield* store.put(entryKey(written.seq), JSON.stringify(written))
    const head: Head = { seq: written.seq, hash, keyId: signer.keyId, signature: signer.sign(headText(written.seq, hash)) }
    yield* store.put(AUDIT_HEAD_KEY, JSON.stringify(head))
    return written
  }))

/**
 * Every entry in the order of its key (a damaged entry is skipped: verifyAudit names it). Reads the whole log: for
 * tests and one-off inspection; the API pages with readAuditPage and a trail is read by its index (auditTrail).
 */
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

/** The entry at a seq, if it is there and readable as that entry. */
const entryAt = (seq: number) =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    const e = readJson(yield* store.get(entryKey(seq))) as AuditEntry | undefined | null
    return e !== undefined && e !== null && typeof e === "object" && e.seq === seq && typeof e.at === "string" ? e : undefined
  })

/** The entries about one request, in order: its audit trail (its index's entries; a scan of a log not yet indexed). */
export const auditTrail = (requestId: string) =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    if (!INDEXABLE_ID.test(requestId) || (yield* store.get(INDEX_MARKER)) === undefined) {
      return (yield* readAudit).filter((e) => e.requestId === requestId)
    }
    const seqs = [...new Set(readSeqs(yield* store.get(requestIndexKey(requestId))))].sort((a, b) => a - b)
    const entries = yield* Effect.forEach(seqs, entryAt, { concurrency: 8 })
    return entries.filter((e): e is AuditEntry => e !== undefined && e.requestId === requestId)
  })

/** The last entry's seq (0: none): the head, or an entry written after it by an append that had not moved it yet. */
export const lastAuditSeq = Effect.gen(function* () {
  const store = yield* ObjectStore
  const head = readJson(yield* store.get(AUDIT_HEAD_KEY)) as Head | undefined | null
  let seq = typeof head?.seq === "number" ? head.seq : 0
  while ((yield* store.get(entryKey(seq + 1))) !== undefined) seq++
  return seq
})

export interface AuditPageQuery {
  /** Only entries of this tenant. */
  readonly tenant?: string | undefined
  /** Only these kinds; a kind ending in "." (e.g. "dsr.") takes every kind it begins. */
  readonly kinds?: ReadonlyArray<string> | undefined
  /** Entries at or after this time (ms). */
  readonly sinceMs?: number | undefined
  /** Entries before this time (ms). */
  readonly untilMs?: number | undefined
  /** The page below this seq (the previous page's nextCursor); default: from the newest entry. */
  readonly beforeSeq?: number | undefined
  readonly limit: number
  /**
   * Entries as a list shows them (abridgeAuditEntry), and the page ends before the entry that would take its entries'
   * JSON past this many bytes (a page holds one entry at least); the next page starts at that entry.
   */
  readonly listView?: { readonly maxBytes: number } | undefined
}

export interface AuditPage {
  /** Newest first. */
  readonly entries: ReadonlyArray<AuditEntry & { readonly abridged?: Abridged }>
  /** Pass as beforeSeq for the next (older) page; null when nothing older matches. */
  readonly nextCursor: number | null
  /** Entries read for this page: at most AUDIT_SCAN_LIMIT, so a page never reads the whole log. */
  readonly scanned: number
}

/** The bytes (of JSON) a page of GET /v1/audit holds at most, unless one entry alone is more; then the page is that entry. */
export const MAX_AUDIT_PAGE_BYTES = 1_000_000

/** Keyed hashes a list view shows of a list of them (a receipt's subject keys); the count says how many there are. */
export const LISTED_KEYS = 5

/** What a list view left out of an item: each abridged field's JSON pointer with its whole length, and where it is whole. */
export interface Abridged {
  readonly fields: Readonly<Record<string, number>>
  readonly whole: string
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v)

/**
 * A signed receipt as a list shows it: its subject's keys cut to the first LISTED_KEYS, with keyCount (the signature is
 * the whole receipt's). `cut` gets the whole length when they were cut. Anything else is given back as it is.
 */
export const abridgeReceipt = (receipt: unknown, cut: (length: number) => void): unknown => {
  if (!isRecord(receipt) || !isRecord(receipt["subject"])) return receipt
  const keys = receipt["subject"]["keys"]
  if (!Array.isArray(keys) || keys.length <= LISTED_KEYS) return receipt
  cut(keys.length)
  return { ...receipt, subject: { ...receipt["subject"], keys: keys.slice(0, LISTED_KEYS), keyCount: keys.length } }
}

/**
 * An entry as GET /v1/audit lists it: the parts that grow with a person (a running request's subjectKeys, a completed
 * one's receipt) cut as abridgeReceipt cuts, named in `abridged` with where the receipt is whole (GET /v1/dsr/{id}).
 * Its hash and signature are the whole entry's: GET /v1/audit/verify (cdp audit verify) checks the whole chain.
 */
export const abridgeAuditEntry = (entry: AuditEntry): AuditEntry & { readonly abridged?: Abridged } => {
  const fields: Record<string, number> = {}
  let data = entry.data
  const keys = data["subjectKeys"]
  if (Array.isArray(keys) && keys.length > LISTED_KEYS) {
    fields["/data/subjectKeys"] = keys.length
    data = { ...data, subjectKeys: keys.slice(0, LISTED_KEYS), subjectKeyCount: keys.length }
  }
  if ("receipt" in data) {
    const receipt = abridgeReceipt(data["receipt"], (n) => { fields["/data/receipt/subject/keys"] = n })
    if (receipt !== data["receipt"]) data = { ...data, receipt }
  }
  return data === entry.data ? entry : { ...entry, data, abridged: { fields, whole: `/v1/dsr/${entry.requestId}` } }
}

/** How many entries one page may read; a page with a narrow filter may come back short with a cursor to go on. */
export const AUDIT_SCAN_LIMIT = 2000
/**
 * Entries are appended in time order by one writer, but an entry may carry a time a little before the entry ahead
 * of it (a DSR's received time, an access batch's flush): the time bounds found by bisection are widened by this many.
 */
const TIME_SLACK = 64
const READ_CHUNK = 32

/**
 * One page of the log, newest first, read by seq from the newest entry (or below the cursor) down: a bounded number
 * of objects whatever the log's size. Time bounds are found by bisection over the seqs; kind and tenant filter what
 * is read. Without filters it reads the entries it shows and no more (besides the head); with them, a few more. Each
 * entry is read whole, those the bisection looks at and those the filters leave out too: the object store reads whole
 * objects only (ObjectStore.get). Damaged entries are left out (cdp audit verify names them).
 */
export const readAuditPage = (q: AuditPageQuery): Effect.Effect<AuditPage, ObjectStoreError, ObjectStore> =>
  Effect.gen(function* () {
    const last = yield* lastAuditSeq
    let top = Math.min(last, q.beforeSeq === undefined ? last : q.beforeSeq - 1)
    let bottom = 1
    const timeOf = (seq: number) => Effect.map(entryAt(seq), (e) => (e === undefined ? undefined : Date.parse(e.at)))
    // The first seq whose time is >= t (entries without a readable time are passed over toward the newer side).
    const firstAtOrAfter = (t: number, lo: number, hi: number) =>
      Effect.gen(function* () {
        while (lo < hi) {
          const mid = Math.floor((lo + hi) / 2)
          const at = yield* timeOf(mid)
          if (at === undefined || at >= t) hi = mid
          else lo = mid + 1
        }
        return lo
      })
    if (top >= 1 && q.untilMs !== undefined) top = Math.min(top, (yield* firstAtOrAfter(q.untilMs, 1, top + 1)) - 1 + TIME_SLACK)
    if (top >= 1 && q.sinceMs !== undefined) bottom = Math.max(1, (yield* firstAtOrAfter(q.sinceMs, 1, top + 1)) - TIME_SLACK)
    const kindMatches = (kind: string) =>
      q.kinds === undefined || q.kinds.length === 0 || q.kinds.some((k) => (k.endsWith(".") ? kind.startsWith(k) : kind === k))
    const matches = (e: AuditEntry) => {
      const at = Date.parse(e.at)
      return (q.tenant === undefined || e.tenant === q.tenant) && kindMatches(e.kind) &&
        (q.sinceMs === undefined || at >= q.sinceMs) && (q.untilMs === undefined || at < q.untilMs)
    }
    const entries: Array<AuditEntry & { readonly abridged?: Abridged }> = []
    let seq = top
    let scanned = 0
    let bytes = 2
    let full = false
    // Each read takes as many entries as the page still lacks (a page of 1 read 32 whole entries to show one), times
    // `ahead`, which doubles after a read that held entries the filters left out.
    let ahead = 1
    while (seq >= bottom && entries.length < q.limit && scanned < AUDIT_SCAN_LIMIT && !full) {
      const n = Math.min(READ_CHUNK, (q.limit - entries.length) * ahead, seq - bottom + 1, AUDIT_SCAN_LIMIT - scanned)
      const chunk = yield* Effect.forEach(Array.from({ length: n }, (_, i) => seq - i), entryAt, { concurrency: 8 })
      if (chunk.some((e) => e === undefined || !matches(e))) ahead = Math.min(ahead * 2, READ_CHUNK)
      for (const [i, e] of chunk.entries()) {
        if (e !== undefined && matches(e)) {
          const listed = q.listView === undefined ? e : abridgeAuditEntry(e)
          if (q.listView !== undefined) {
            const size = JSON.stringify(listed).length + 1
            // Over the bytes: this entry starts the next page (seq - i is its place).
            if (entries.length > 0 && bytes + size > q.listView.maxBytes) {
              seq = seq - i
              full = true
              break
            }
            bytes += size
          }
          entries.push(listed)
        }
        scanned++
        if (entries.length === q.limit) {
          seq = seq - i - 1
          break
        }
        if (i === chunk.length - 1) seq -= n
      }
    }
    return { entries, nextCursor: seq >= bottom ? seq + 1 : null, scanned }
  })

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

/**
 * The chain checked for a caller who may see one tenant: `ok` is still the whole chain's (an entry removed or edited
 * anywhere may have been this tenant's), but the counts, head and problems are its own entries', so the other
 * tenants' activity stays unseen; problems elsewhere are one line without a position.
 */
export interface TenantAuditVerification {
  readonly ok: boolean
  readonly tenant: string
  readonly entries: number
  readonly keyId: string
  readonly problems: ReadonlyArray<Omit<AuditProblem, "seq"> & { readonly seq: number | null }>
}

const VERIFY_CHUNK = 256

/** Checks the whole chain: every entry's hash and signature, its place (seq) and link to the one before, and the head. */
export const verifyAudit = (signer: AuditSigner): Effect.Effect<AuditVerification, ObjectStoreError, ObjectStore> =>
  Effect.map(checkChain(signer), ({ verification }) => verification)

/** verifyAudit as one tenant may see it (TenantAuditVerification). */
export const verifyAuditOfTenant = (signer: AuditSigner, tenant: string): Effect.Effect<TenantAuditVerification, ObjectStoreError, ObjectStore> =>
  Effect.map(checkChain(signer), ({ verification, tenantOf }) => {
    const own = verification.problems.filter((p) => tenantOf.get(p.seq) === tenant)
    const elsewhere = verification.problems.length - own.length
    return {
      ok: verification.ok, tenant, entries: [...tenantOf.values()].filter((t) => t === tenant).length, keyId: verification.keyId,
      problems: elsewhere === 0 ? own
        : [...own, { seq: null, key: AUDIT_LOG_PREFIX, problem: "the chain has problems outside this tenant's entries; an unbound token's verification names them" }],
    }
  })

const checkChain = (signer: AuditSigner) =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    const keys = yield* store.list(AUDIT_LOG_PREFIX)
    const problems: Array<AuditProblem> = []
    let prev = { seq: 0, hash: GENESIS }
    const hashes = new Map<number, string>()
    const tenantOf = new Map<number, string>()
    // Objects are fetched a chunk at a time, several at once (an S3 GET or a file read waits mostly on I/O); every
    // check below still runs on each entry in key order.
    const fetched = new Map<string, Uint8Array | undefined>()
    for (const [i, key] of keys.entries()) {
      if (i % VERIFY_CHUNK === 0) {
        fetched.clear()
        const chunk = keys.slice(i, i + VERIFY_CHUNK)
        const bodies = yield* Effect.forEach(chunk, (k) => store.get(k), { concurrency: 16 })
        chunk.forEach((k, j) => fetched.set(k, bodies[j]))
      }
      const keySeq = Number(/(\d+)\.json$/.exec(key)?.[1] ?? Number.NaN)
      const e = readJson(fetched.get(key)) as AuditEntry | null | undefined
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
      if (typeof e.tenant === "string") tenantOf.set(keySeq, e.tenant)
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
    const verification: AuditVerification = {
      ok: problems.length === 0, entries: keys.length, headSeq: head?.seq ?? 0, headHash: head?.hash ?? GENESIS,
      keyId: signer.keyId, problems,
    }
    return { verification, tenantOf }
  })

/** A receipt signed with the audit key: `{...receipt, keyId, signature}`. */
export const signReceipt = <R extends Record<string, unknown>>(signer: AuditSigner, receipt: R) =>
  ({ ...receipt, keyId: signer.keyId, signature: signer.sign(canonicalJson({ ...receipt, keyId: signer.keyId })) })

/** Whether a receipt (as signReceipt made it) is unchanged and signed by this key. */
export const verifyReceipt = (signer: AuditSigner, signed: Record<string, unknown>): boolean => {
  const { signature, ...rest } = signed
  return typeof signature === "string" && rest.keyId === signer.keyId && signer.verify(canonicalJson(rest), signature)
}
