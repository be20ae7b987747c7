// Export and erasure of one subject everywhere the registry (consent/registry.ts) lists, with a verification that
// nothing of theirs is left: every table scanned by SQL for their identifiers, no outdated part left on disk.
import { isUtf8 } from "node:buffer"
import { createHash } from "node:crypto"
import { unzipSync } from "fflate"
import { Data, Effect, Option } from "effect"
import { eraseArchived, exportArchived } from "../ingest/archive.ts"
import { EventBus, Topics } from "../ingest/bus.ts"
import { keyDerivation } from "../ingest/bus-crypto.ts"
import type { ArchiveRecord } from "../ingest/message.ts"
import { ObjectStore } from "../ingest/objectstore.ts"
import { keptBytes } from "../ingest/utf8.ts"
import {
  aloneForErasure, awaitOldPartsGone, noteErasedProfiles, countByMessageIds, countMentions, deleteTenantRows, dropDetachedParts, ensurePromptCleanup, eraseRows, exportRows, findRows, listTables,
  bytesMentionNeedle, decodedMailText, mayBeMimeEncoded, mentionsNeedle, redactBytes, redactRow, type SubjectKeys, type TableLocator, truncateTable,
} from "../warehouse/erasure.ts"
import { countDataKeys, shredDataKeys } from "../warehouse/bus-keys.ts"
import { redactMimeMail } from "../warehouse/erasure-mime.ts"
import { queueExportErasures } from "../warehouse/exports.ts"
import { WritesOfTenant } from "../warehouse/writes.ts"
import { forgetMessages } from "../warehouse/sink.ts"
import { OBJECT_AREAS, TABLES, type TableEntry } from "./registry.ts"
import type { Subject } from "./subject.ts"
import { Keys } from "./keys.ts"
import { nodeKey } from "../identity/graph.ts"
import type { IdentifierKind } from "../identity/normalise.ts"
import { RunningGraph } from "../identity/stage.ts"
import { suppressSubject } from "./suppression.ts"

/** What one store holds about the subject (an access or portability export). */
export interface StoreRows {
  readonly store: string
  readonly rows: ReadonlyArray<Readonly<Record<string, unknown>>>
}

/** One thing an erasure did in one place: `{where: "event_rows", what: "erased", count: 12}`. */
export interface ErasureCount {
  readonly where: string
  readonly what: string
  readonly count: number
}

/** The erasure ran, but the verification found the subject still somewhere (names the stores, never the values). */
export class ErasureIncomplete extends Data.TaggedError("ErasureIncomplete")<{ readonly left: ReadonlyArray<string> }> {
  override get message() {
    return `the erasure left data of the subject in: ${this.left.join(", ")}`
  }
}

const keysOf = (subject: Subject): SubjectKeys => ({
  tenant: subject.tenant, messageIds: subject.messageIds, profileIds: subject.profileIds, needles: subject.needles,
})

/** The registered tables that exist here and hold rows to export or erase, in the registry's order. */
const erasableTables = Effect.gen(function* () {
  const present = new Set((yield* listTables()).map((t) => t.name))
  return TABLES.filter((t): t is TableEntry & { locate: NonNullable<TableEntry["locate"]> } =>
    t.erasure === "rows" && t.locate !== undefined && present.has(t.name))
})

const locatorOf = (entry: TableEntry & { locate: NonNullable<TableEntry["locate"]> }): TableLocator => ({ table: entry.name, ...entry.locate })

/** An archived body kept as base64: bytes that are not UTF-8 (a mail in windows-1252, ingest/utf8.ts keptAsText). */
const keptAsBytes = (r: ArchiveRecord): boolean => r.meta?.["encoding"] === "base64"

/**
 * An archived body with the needles cut out: one kept as base64 in its bytes, read as UTF-8, Windows-1252 and the
 * charset it declares (warehouse/erasure.ts redactBytes), the other bytes kept as they were.
 */
const redactArchived = (r: ArchiveRecord, needles: ReadonlyArray<string>): ArchiveRecord => keptAsBytes(r)
  ? { ...r, body: redactBytes(keptBytes(r.body, "base64"), needles).toString("base64") }
  : { ...r, body: String(redactRow({ body: r.body }, needles)["body"]) }

/** Record tests for the archive: the subject's own messages, and others' that mention them (as a whole token). */
const archiveMatchers = (subject: Subject) => {
  const ids = new Set(subject.messageIds)
  const holds = mentionsNeedle(subject.needles)
  const bytesHold = bytesMentionNeedle(subject.needles)
  return {
    isMine: (r: ArchiveRecord) => r.tenant === subject.tenant && ids.has(r.messageId),
    mentions: (r: ArchiveRecord) => (keptAsBytes(r) ? bytesHold(keptBytes(r.body, "base64")) : holds(r.body)),
  }
}

/** An archived record's raw bytes (a mail's: its body kept as base64 when not UTF-8). */
const archivedBytes = (r: ArchiveRecord): Buffer => (keptAsBytes(r) ? keptBytes(r.body, "base64") : Buffer.from(r.body, "utf8"))

const recordKey = (r: ArchiveRecord) => `${r.source}\u0000${r.messageId}\u0000${r.receivedAt}\u0000${r.body}`

/** Mails read decoded (decodedMailText) in one erasure and found without the subject, by the SHA-256 of their bytes. */
type ReadClean = ReadonlySet<string>

const digestOf = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex")

/**
 * Others' archived records that may hold a MIME encoding (mayBeMimeEncoded), each with its bytes once its plain text
 * is cut (redactArchived), and whether those bytes still name the subject read decoded (decodedMailText: a base64 or
 * quoted-printable part, an encoded-word in Cc). Bytes in `clean` are not read again: the same bytes and needles read
 * the same.
 */
const readInMime = (subject: Subject, clean: ReadClean = new Set()) =>
  Effect.gen(function* () {
    const { isMine } = archiveMatchers(subject)
    const holds = mentionsNeedle(subject.needles)
    const out: Array<{ readonly record: ArchiveRecord; readonly cut: ArchiveRecord; readonly digest: string; readonly named: boolean }> = []
    if (subject.needles.length === 0) return out
    for (const record of yield* exportArchived(subject.tenant, (r) => !isMine(r) && mayBeMimeEncoded(archivedBytes(r)))) {
      const cut = redactArchived(record, subject.needles)
      const bytes = archivedBytes(cut)
      const digest = digestOf(bytes)
      out.push({ record, cut, digest, named: !clean.has(digest) && holds(yield* decodedMailText(bytes)) })
    }
    return out
  })

/** Others' records naming the subject inside a MIME encoding, as keys (recordKey): what verification counts. */
const namedInMime = (subject: Subject, clean?: ReadClean) =>
  Effect.map(readInMime(subject, clean), (read) => new Set(read.filter((r) => r.named).map((r) => recordKey(r.record))))

/**
 * What an erasure does with others' archived records naming the subject inside a MIME encoding: each is cut there
 * (warehouse/erasure-mime.ts redactMimeMail: the parts and encoded-words naming them decoded, cut and encoded again,
 * every other byte kept) when the cut mail, read decoded, no longer names them (`redacted`, by recordKey); else it is
 * erased whole (`whole`: the mail could not be split back into its bytes, or a part's charset cannot hold the cut).
 * `clean`: the bytes read decoded and found without the subject, left as they were, which verification need not read
 * again (it reads the mails cut here, and any other, decoded).
 */
const cutInMime = (subject: Subject) =>
  Effect.gen(function* () {
    const holds = mentionsNeedle(subject.needles)
    const redacted = new Map<string, ArchiveRecord>()
    const whole = new Set<string>()
    const clean = new Set<string>()
    for (const { record, cut, digest, named } of yield* readInMime(subject)) {
      if (!named) {
        clean.add(digest)
        continue
      }
      const mended = yield* Effect.promise(() => redactMimeMail(archivedBytes(cut), subject.needles))
      if (mended !== undefined && (keptAsBytes(cut) || isUtf8(mended)) && !holds(yield* decodedMailText(mended))) {
        redacted.set(recordKey(record), { ...cut, body: keptAsBytes(cut) ? mended.toString("base64") : mended.toString("utf8") })
      } else whole.add(recordKey(record))
    }
    return { redacted, whole, clean: clean as ReadClean }
  })

/** Everything held about the subject, per store: their rows of each table and their archived raw messages. */
export const exportSubject = Effect.fn("exportSubject")(function* (subject: Subject) {
  const out: Array<StoreRows> = []
  for (const entry of yield* erasableTables) {
    const found = yield* findRows(locatorOf(entry), keysOf(subject))
    out.push({ store: entry.name, rows: exportRows(found.mine) })
  }
  const { isMine } = archiveMatchers(subject)
  const archived = yield* exportArchived(subject.tenant, isMine)
  out.push({
    store: "archive",
    // A body kept as base64 (bytes that are not UTF-8) says so, or the subject would take it for the text; its decoded
    // text is in the texts store.
    rows: archived.map((r) => ({
      source: r.source, messageId: r.messageId, receivedAt: r.receivedAt, body: r.body,
      bodyEncoding: r.meta?.["encoding"] === "base64" ? "base64" : "utf8",
    })),
  })
  return out as ReadonlyArray<StoreRows>
})

const textOfObject = (key: string, bytes: Uint8Array): string => {
  if (key.endsWith(".zip")) {
    try {
      return Object.values(unzipSync(bytes)).map((b) => Buffer.from(b).toString("utf8")).join("\n")
    } catch {
      return Buffer.from(bytes).toString("latin1")
    }
  }
  return Buffer.from(bytes).toString("utf8")
}

/** The subject's tenant's objects outside the archive (connector state, access bundles, exports) that name them: removed whole. */
const eraseObjects = (subject: Subject) =>
  Effect.gen(function* () {
    const store = yield* ObjectStore
    const needles = [...subject.needles, ...subject.profileIds]
    let removed = 0
    if (needles.length === 0) return removed
    const holds = mentionsNeedle(needles)
    for (const area of OBJECT_AREAS) {
      if (area.tenantPrefix === undefined) continue // the archive (rewritten by eraseArchived) and the audit log
      for (const key of yield* store.list(area.tenantPrefix(subject.tenant))) {
        const bytes = yield* store.get(key)
        if (bytes === undefined) continue
        if (holds(textOfObject(key, bytes))) {
          yield* store.remove(key)
          removed++
        }
      }
    }
    return removed
  })

/**
 * Every person key the Kafka bus may have chosen a data key by for the subject's messages (ingest/bus.ts
 * personKeyOf): each identifier, normalised and as sent, as a userId or anonymousId and as a stated identifier
 * ("email:ann@x.example"), and each message id (a message that stated none). Shared identifiers (a family browser)
 * are included: their records hold the subject's messages too (README: Scale-out over Kafka).
 */
export const subjectPersonKeys = (subject: Subject): ReadonlyArray<string> => {
  const out = new Set<string>()
  for (const id of subject.identifiers) {
    for (const text of new Set([id.value, ...id.raws])) {
      if (text === "") continue
      out.add(`${subject.tenant}/${text}`)
      out.add(`${subject.tenant}/${id.kind}:${text}`)
    }
  }
  for (const m of subject.messageIds) out.add(`${subject.tenant}/${m}`)
  return [...out]
}

/** The key ids of the subject's person keys under this deployment's secret. */
const subjectKeyIds = Effect.fn("subjectKeyIds")(function* (subject: Subject) {
  const derivation = keyDerivation(yield* Keys)
  return subjectPersonKeys(subject).map(derivation.keyIdOf)
})

/**
 * Crypto-shreds the subject's records on the Kafka bus: deletes the data keys of their person keys, then tells every
 * process of the bus to drop them from its cache (on identity_changes). Returns how many keys were deleted.
 */
const shredBusKeys = (subject: Subject, requestId: string) =>
  Effect.gen(function* () {
    const shredded = yield* shredDataKeys(subject.tenant, yield* subjectKeyIds(subject))
    const bus = yield* Effect.serviceOption(EventBus)
    if (Option.isSome(bus) && bus.value.backend.kind === "kafka" && shredded.keyIds.length > 0) {
      yield* bus.value.publish(Topics.identityChanges, [{ tenant: subject.tenant, origin: `erasure:${requestId}`, shreddedKeys: shredded.keyIds }]).pipe(
        Effect.catch((e) => Effect.logWarning("running processes not told of shredded data keys; they drop them when they restart").pipe(
          Effect.annotateLogs({ keys: shredded.keyIds.length, error: e.message }))))
    }
    return shredded.keys
  })

/**
 * Erases the subject everywhere: suppresses their identifiers first (so nothing of theirs lands meanwhile), deletes
 * their rows from every table and cuts their identifiers out of others' rows, rewrites the archive batches that hold
 * them, removes objects that name them, forgets their messages in the sinks' memory, and waits until no outdated
 * part is left on disk. Then verifies: no table holds any of their identifiers or profile ids, no archived record
 * holds them; else fails with ErasureIncomplete. Returns what was done where.
 */
export const eraseSubject = (subject: Subject, requestId = "") =>
  // Every write below changes rows of the subject's tenant only: other tenants' cached answers and documents stay.
  // No audience refresh of the tenant runs meanwhile (one that read the person before would store them back after).
  eraseInTenant(subject, requestId).pipe(Effect.provideService(WritesOfTenant, subject.tenant), aloneForErasure(subject.tenant))

const eraseInTenant = Effect.fn("eraseSubject")(function* (subject: Subject, requestId: string) {
  const done: Array<ErasureCount> = []
  // Work that read the tenant before this erasure and writes after it (a relations compute) leaves these profiles out.
  noteErasedProfiles(subject.tenant, subject.profileIds)
  done.push({ where: "suppressions", what: "identifiers suppressed", count: yield* suppressSubject(subject, requestId) })
  // The running pipeline's graph stops joining anything to them before their rows go, and is loaded again (their tenant
  // alone) once the rows are gone: it would otherwise keep their identifiers, and store them again in its next snapshot.
  const graph = yield* Effect.serviceOption(RunningGraph)
  if (Option.isSome(graph)) {
    const keys = subject.identifiers.filter((i) => !i.shared).map((i) => nodeKey(i.kind as IdentifierKind, i.value))
    const { forgotten, toldOthers } = yield* graph.value.forget(subject.tenant, { profileIds: subject.profileIds, keys })
    done.push({ where: "identity graph", what: "identifiers forgotten", count: forgotten })
    if (toldOthers) done.push({ where: "identity graph", what: "other workers told to forget their profiles", count: subject.profileIds.length })
  }
  // Before export_state is erased: the records destinations hold of the subject, queued for deletion there.
  done.push({ where: "export destinations", what: "deletions queued", count: yield* queueExportErasures(subject.tenant, subject.profileIds, requestId) })

  const erased = new Map<string, ReadonlyArray<Record<string, unknown>>>()
  const mutated: Array<string> = []
  for (const entry of yield* erasableTables) {
    const locator = locatorOf(entry)
    const linked = locator.linked === undefined
      ? []
      : [...new Set((erased.get(locator.linked.fromTable) ?? []).map((r) => String(r[locator.linked!.fromColumn])))]
    const found = yield* findRows(locator, keysOf(subject), linked)
    erased.set(entry.name, found.mine)
    if (found.mine.length + found.mentions.length > 0) {
      yield* ensurePromptCleanup(entry.name)
      mutated.push(entry.name)
    }
    const counts = yield* eraseRows(locator, found, subject.needles)
    done.push({ where: entry.name, what: "erased", count: counts.deleted })
    if (counts.redacted > 0) done.push({ where: entry.name, what: "redacted", count: counts.redacted })
  }

  const present = new Set((yield* listTables()).map((t) => t.name))
  for (const entry of TABLES.filter((t) => t.erasure === "tenant" && present.has(t.name))) {
    yield* ensurePromptCleanup(entry.name)
    yield* deleteTenantRows(entry.name, subject.tenant)
    mutated.push(entry.name)
    done.push({ where: entry.name, what: "emptied for the tenant", count: 1 })
  }
  for (const entry of TABLES.filter((t) => t.erasure === "truncate" && present.has(t.name))) {
    yield* ensurePromptCleanup(entry.name)
    yield* truncateTable(entry.name)
    mutated.push(entry.name)
    done.push({ where: entry.name, what: "emptied", count: 1 })
  }

  if (Option.isSome(graph)) {
    yield* graph.value.reload(subject.tenant)
    done.push({ where: "identity graph", what: "tenant's graph loaded again without them", count: 1 })
  }

  const { isMine, mentions } = archiveMatchers(subject)
  const inMime = yield* cutInMime(subject)
  const archive = yield* eraseArchived(subject.tenant, (r) => isMine(r) || inMime.whole.has(recordKey(r)),
    (r) => mentions(r) || inMime.redacted.has(recordKey(r)), (r) => inMime.redacted.get(recordKey(r)) ?? redactArchived(r, subject.needles))
  done.push({ where: "archive", what: "records erased", count: archive.erased - inMime.whole.size })
  if (archive.redacted > 0) done.push({ where: "archive", what: "records redacted", count: archive.redacted })
  if (inMime.redacted.size > 0) done.push({ where: "archive", what: "others' records redacted inside their MIME encoding", count: inMime.redacted.size })
  if (inMime.whole.size > 0) {
    done.push({ where: "archive", what: "others' records erased whole (naming the subject inside a MIME encoding that could not be encoded again)", count: inMime.whole.size })
  }
  done.push({ where: "archive", what: "batches rewritten", count: archive.rewritten })
  done.push({ where: "objects", what: "removed", count: yield* eraseObjects(subject) })
  done.push({ where: "sink memory", what: "message ids forgotten", count: forgetMessages(subject.tenant, subject.messageIds) })
  if (present.has("bus_data_keys")) {
    yield* ensurePromptCleanup("bus_data_keys")
    mutated.push("bus_data_keys")
    done.push({ where: "bus_data_keys", what: "Kafka data keys shredded", count: yield* shredBusKeys(subject, requestId) })
  }

  done.push({ where: "warehouse", what: "detached parts dropped", count: yield* dropDetachedParts(TABLES.map((t) => t.name)) })
  // Every personal table, not only those changed now: a merge before the erasure leaves the replaced parts (which
  // may hold an older version of the subject's rows) outdated on disk too.
  const stale = yield* awaitOldPartsGone([...new Set([...mutated, ...TABLES.filter((t) => t.erasure === "rows" && present.has(t.name)).map((t) => t.name)])])

  const left = yield* verifyErased(subject, inMime.clean)
  for (const t of stale) left.push(`${t} (outdated parts still on disk)`)
  if (left.length > 0) return yield* Effect.fail(new ErasureIncomplete({ left }))
  done.push({ where: "verification", what: "stores still holding the subject", count: 0 })
  return done as ReadonlyArray<ErasureCount>
})

/**
 * The stores that still hold any identifier, profile id or message of the subject (empty after an erasure). Archived
 * mails whose bytes are in `clean` (the erasure just read them decoded, without the subject, and left them) are not
 * read decoded again.
 */
export const verifyErased = Effect.fn("verifyErased")(function* (subject: Subject, clean?: ReadClean) {
  const left: Array<string> = []
  const keyed = new Set(TABLES.filter((t) => t.erasure === "keyed").map((t) => t.name))
  const mail = new Map(TABLES.flatMap((t) => (t.locate?.mail === undefined ? [] : [[t.name, t.locate.mail] as const])))
  const mentions = yield* countMentions(subject.tenant, [...subject.needles, ...subject.profileIds], mail)
  for (const m of mentions) if (!keyed.has(m.table)) left.push(`${m.table} (${m.rows} rows)`)
  if (subject.messageIds.length > 0) {
    for (const entry of yield* erasableTables) {
      if (entry.locate.messageId === undefined) continue
      const n = yield* countByMessageIds(entry.name, entry.locate.messageId, subject.tenant, subject.messageIds)
      if (n > 0) left.push(`${entry.name} (${n} rows by message id)`)
    }
  }
  const keysLeft = (yield* listTables()).some((t) => t.name === "bus_data_keys") ? yield* countDataKeys(yield* subjectKeyIds(subject)) : 0
  if (keysLeft > 0) left.push(`bus_data_keys (${keysLeft} data keys of the subject's person keys)`)
  const { isMine, mentions: mentionsSubject } = archiveMatchers(subject)
  const archived = new Set([...(yield* exportArchived(subject.tenant, (r) => isMine(r) || mentionsSubject(r))).map(recordKey), ...yield* namedInMime(subject, clean)])
  if (archived.size > 0) left.push(`archive (${archived.size} records)`)
  return left
})
