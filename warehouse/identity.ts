// The identity tables' one owner: identity_observations, identity_links, event_profiles and profile_merges
// (migration 010), identity_sightings (034). Rows go in batches; the online resolver's state is read back from identity_observations.
// Reads of a profile (its messages, identifiers, traits, merges, timeline) and of decisions live here too.
import { Effect } from "effect"
import { INLINE_BYTES, runsWrittenIn } from "./inline-params.ts"
import { chDateTime } from "./sink.ts"
import { type Row, Warehouse } from "./warehouse.ts"
import { nextVersion, versionMs, witnessWrittenAt } from "./versions.ts"

export interface StoredSighting {
  readonly kind: string
  readonly value: string
  readonly raw: string
  readonly trust: string
}

export interface ObservationRow {
  readonly tenant: string
  readonly messageId: string
  /** ISO-8601 UTC. */
  readonly timestamp: string
  readonly sightings: ReadonlyArray<StoredSighting>
  readonly refused: ReadonlyArray<{ readonly kind: string; readonly raw: string; readonly reason: string }>
}

export interface LinkRow {
  readonly tenant: string
  readonly a: string
  readonly b: string
  readonly messageId: string
  readonly timeMs: number
  readonly trust: string
  readonly rule: string
  /** "linked", or "refused" with its reason, or "withdrawn": a stored link a later resolution no longer makes. */
  readonly status: "linked" | "refused" | "withdrawn"
  readonly reason: string
}

export interface MovedRow {
  readonly tenant: string
  readonly messageId: string
  readonly profileId: string
}

export interface NodeRow {
  readonly tenant: string
  readonly kind: string
  readonly value: string
  readonly slice: number
  readonly profileId: string
  /** Why the value is shared by several people ("" when it is not). */
  readonly shared: string
}

export interface MergeRow {
  readonly tenant: string
  readonly fromProfile: string
  readonly toProfile: string
  readonly kind: "merge" | "split"
  readonly messages: number
  readonly reason: string
}

const iso = (ms: number) => new Date(ms).toISOString()

export const storeIdentity = Effect.fn("storeIdentity")(function* (update: {
  readonly observations: ReadonlyArray<ObservationRow>
  readonly links: ReadonlyArray<LinkRow>
  readonly moved: ReadonlyArray<MovedRow>
  readonly merges: ReadonlyArray<MergeRow>
  readonly nodes: ReadonlyArray<NodeRow>
}) {
  const warehouse = yield* Warehouse
  // The time columns are the version's millisecond, so a process that reads them (witnessWrittenAt) gets past it.
  const version = nextVersion()
  const at = chDateTime(iso(versionMs(version)))
  yield* warehouse.insert("identity_observations", update.observations.map((o): Row => ({
    tenant: o.tenant, message_id: o.messageId, timestamp: chDateTime(o.timestamp),
    sightings: o.sightings,
    refused: o.refused,
    observed_at: at,
  })))
  // Each observation again under each identifier it states (read back by identifier: readStoredStating).
  const byIdentifier: Array<Row> = []
  for (const o of update.observations) {
    const sightings = o.sightings.map(({ kind, value, trust }) => ({ kind, value, trust }))
    const timestamp = chDateTime(o.timestamp)
    for (const s of o.sightings) {
      byIdentifier.push({ tenant: o.tenant, kind: s.kind, value: s.value, message_id: o.messageId, timestamp, sightings, observed_at: at })
    }
  }
  yield* warehouse.insert("identity_sightings", byIdentifier)
  yield* warehouse.insert("identity_links", update.links.map((l): Row => ({
    tenant: l.tenant, a: l.a, b: l.b, message_id: l.messageId, timestamp: chDateTime(iso(l.timeMs)), trust: l.trust,
    rule: l.rule, status: l.status, reason: l.reason, resolved_at: at,
  })))
  yield* warehouse.insert("event_profiles", update.moved.map((m): Row => ({
    tenant: m.tenant, message_id: m.messageId, profile_id: m.profileId, version,
  })))
  yield* warehouse.insert("identity_nodes", update.nodes.map((n): Row => ({
    tenant: n.tenant, kind: n.kind, value: n.value, slice: n.slice, profile_id: n.profileId, shared: n.shared, version,
  })))
  yield* warehouse.insert("profile_merges", update.merges.map((m): Row => ({
    tenant: m.tenant, from_profile: m.fromProfile, to_profile: m.toProfile, kind: m.kind, messages: m.messages,
    reason: m.reason, at,
  })))
})

// When a read observation was stored, by its writer's clock (the version it was stored with, to the millisecond).
const WRITTEN = "toUnixTimestamp64Milli(max(observed_at)) AS written"

/** Observations another process stored were read: this process's next versions come after theirs. */
const witnessRows = (rows: ReadonlyArray<{ readonly written: string }>) => {
  let latest = 0
  for (const r of rows) latest = Math.max(latest, Number(r.written))
  if (latest > 0) witnessWrittenAt(latest)
}

/** Every stored observation (or those stored since a time), tenant by tenant, for rebuilding the online graph after a restart. */
export const loadObservations = Effect.fn("loadObservations")(function* (sinceMs?: number, onlyTenant?: string) {
  const warehouse = yield* Warehouse
  const where = [
    ...(sinceMs === undefined ? [] : ["observed_at >= {since:DateTime64(3, 'UTC')}"]),
    ...(onlyTenant === undefined ? [] : ["tenant = {only:String}"]),
  ]
  const rows = yield* warehouse.query<{ tenant: string; message_id: string; ms: string; sightings: Array<StoredSighting>; written: string }>(
    "SELECT tenant, message_id, toUnixTimestamp64Milli(argMax(timestamp, observed_at)) AS ms, " +
      `argMax(sightings, observed_at) AS sightings, ${WRITTEN} FROM identity_observations ` +
      `${where.length === 0 ? "" : `WHERE ${where.join(" AND ")} `}GROUP BY tenant, message_id`,
    where.length === 0 ? undefined : {
      params: { ...(sinceMs === undefined ? {} : { since: chDateTime(iso(sinceMs)) }), ...(onlyTenant === undefined ? {} : { only: onlyTenant }) },
    },
  )
  witnessRows(rows)
  return rows.map((r) => ({
    tenant: r.tenant,
    messageId: r.message_id,
    timeMs: Number(r.ms),
    sightings: r.sightings.map(({ kind, value, trust }) => ({ kind, value, trust })),
  }))
})

/** Most identifiers one read by identifier sends (the rest go in further reads). */
const KEYS_PER_READ = 1000

const splitKeys = (keys: ReadonlyArray<string>) => {
  const kinds = new Set<string>()
  const values = new Set<string>()
  for (const key of keys) {
    const colon = key.indexOf(":")
    kinds.add(key.slice(0, colon))
    values.add(key.slice(colon + 1))
  }
  return { kinds: [...kinds], values: [...values], keys }
}

// Rows of identity_sightings under one of the identifiers {keys} ("kind:value"); kind and value narrow the key range.
const STATING = "tenant = {tenant:String} AND kind IN {kinds:Array(String)} AND value IN {values:Array(String)} " +
  "AND has({keys:Array(String)}, concat(kind, ':', value))"

/**
 * The stored observations (latest version of each message) that state one of these identifiers ("kind:value"), and
 * those of these messages: what the online graph reads back when it resolves a part again.
 */
export const readStoredStating = Effect.fn("readStoredStating")(function* (
  tenant: string, keys: ReadonlyArray<string>, messageIds: ReadonlyArray<string> = [],
) {
  const warehouse = yield* Warehouse
  const out = new Map<string, { messageId: string; timeMs: number; sightings: Array<{ kind: string; value: string; trust: string }> }>()
  for (let i = 0; i < keys.length; i += KEYS_PER_READ) {
    const rows = yield* warehouse.query<{ message_id: string; ms: string; sightings: Array<{ kind: string; value: string; trust: string }>; written: string }>(
      `SELECT message_id, toUnixTimestamp64Milli(argMax(timestamp, observed_at)) AS ms, argMax(sightings, observed_at) AS sightings, ${WRITTEN} ` +
        `FROM identity_sightings WHERE ${STATING} GROUP BY message_id`,
      { params: { tenant, ...splitKeys(keys.slice(i, i + KEYS_PER_READ)) } })
    witnessRows(rows)
    for (const r of rows) out.set(r.message_id, { messageId: r.message_id, timeMs: Number(r.ms), sightings: r.sightings })
  }
  if (messageIds.length > 0) {
    const rows = yield* warehouse.query<{ message_id: string; ms: string; sightings: Array<StoredSighting>; written: string }>(
      `SELECT message_id, toUnixTimestamp64Milli(argMax(timestamp, observed_at)) AS ms, argMax(sightings, observed_at) AS sightings, ${WRITTEN} ` +
        "FROM identity_observations WHERE tenant = {tenant:String} AND message_id IN {ids:Array(String)} GROUP BY message_id",
      { params: { tenant, ids: messageIds } })
    witnessRows(rows)
    for (const r of rows) {
      out.set(r.message_id, { messageId: r.message_id, timeMs: Number(r.ms), sightings: r.sightings.map(({ kind, value, trust }) => ({ kind, value, trust })) })
    }
  }
  return [...out.values()]
})

/**
 * Profiles other than these whose messages state one of these identifiers ("kind:value"), per identifier: e.g. a
 * second signed-in user's identify naming the subject's address, which identity kept with its holder. Their current
 * profiles (events), in chunks of identifiers.
 */
export const profilesStating = Effect.fn("profilesStating")(function* (tenant: string, keys: ReadonlyArray<string>, profileIds: ReadonlyArray<string>) {
  const warehouse = yield* Warehouse
  const out = new Map<string, Array<string>>()
  for (let i = 0; i < keys.length; i += KEYS_PER_READ) {
    const rows = yield* warehouse.query<{ key: string; profiles: Array<string> }>(
      `WITH stating AS (SELECT DISTINCT concat(kind, ':', value) AS key, message_id FROM identity_sightings WHERE ${STATING}) ` +
        "SELECT s.key AS key, arraySort(groupUniqArray(e.profile_id)) AS profiles FROM stating AS s INNER JOIN " +
        "(SELECT message_id, profile_id FROM events WHERE tenant = {tenant:String} AND message_id IN (SELECT message_id FROM stating)) AS e " +
        "ON e.message_id = s.message_id WHERE e.profile_id NOT IN {profiles:Array(String)} GROUP BY key",
      { params: { tenant, profiles: profileIds, ...splitKeys(keys.slice(i, i + KEYS_PER_READ)) } })
    for (const r of rows) out.set(r.key, r.profiles)
  }
  return out
})

/** The stored messages that state each of these identifiers ("kind:value"), as (key, message id) pairs: parts that moved whole. */
export const messagesStating = Effect.fn("messagesStating")(function* (tenant: string, keys: ReadonlyArray<string>) {
  const warehouse = yield* Warehouse
  const out: Array<{ key: string; messageId: string }> = []
  for (let i = 0; i < keys.length; i += KEYS_PER_READ) {
    const rows = yield* warehouse.query<{ key: string; message_id: string }>(
      `SELECT DISTINCT concat(kind, ':', value) AS key, message_id FROM identity_sightings WHERE ${STATING}`,
      { params: { tenant, ...splitKeys(keys.slice(i, i + KEYS_PER_READ)) } })
    for (const r of rows) out.push({ key: r.key, messageId: r.message_id })
  }
  return out
})

/**
 * One page of the stored observations (latest version of each message) in key order, after (tenant, message id):
 * a full load reads them page by page, so its memory is a page's, however many are stored.
 */
export const loadObservationsPage = Effect.fn("loadObservationsPage")(function* (
  after: { readonly tenant: string; readonly messageId: string } | undefined, limit: number, onlyTenant?: string,
) {
  const warehouse = yield* Warehouse
  const where = [
    ...(onlyTenant === undefined ? [] : ["tenant = {only:String}"]),
    ...(after === undefined ? [] : ["(tenant, message_id) > ({tenant:String}, {id:String})"]),
  ]
  const rows = yield* warehouse.query<{ tenant: string; message_id: string; ms: string; sightings: Array<StoredSighting>; written: string }>(
    `SELECT tenant, message_id, toUnixTimestamp64Milli(argMax(timestamp, observed_at)) AS ms, argMax(sightings, observed_at) AS sightings, ${WRITTEN} ` +
      `FROM identity_observations ${where.length === 0 ? "" : `WHERE ${where.join(" AND ")} `}` +
      // In key order, the engine aggregates as it reads and stops at the limit, instead of grouping the rest each page.
      `GROUP BY tenant, message_id ORDER BY tenant, message_id LIMIT ${Math.max(1, Math.floor(limit))} SETTINGS optimize_aggregation_in_order = 1`,
    where.length === 0 ? undefined : {
      params: { ...(onlyTenant === undefined ? {} : { only: onlyTenant }), ...(after === undefined ? {} : { tenant: after.tenant, id: after.messageId }) },
    },
  )
  witnessRows(rows)
  return rows.map((r) => ({
    tenant: r.tenant, messageId: r.message_id, timeMs: Number(r.ms),
    sightings: r.sightings.map(({ kind, value, trust }) => ({ kind, value, trust })),
  }))
})

export interface OperationRow {
  readonly tenant: string
  readonly opId: string
  readonly kind: "link" | "separate" | "remove" | "dismiss"
  /** Node keys ("kind:value"); for dismiss, `a` is the suggestion id. */
  readonly a: string
  readonly b: string
  readonly reason: string
  readonly atMs: number
  /** Who decided: "token:ID" (an API token), "cli:USER" (cdp on the data dir); "" when not recorded (before 081). */
  readonly actor: string
}

export const storeOperation = Effect.fn("storeOperation")(function* (op: OperationRow) {
  const warehouse = yield* Warehouse
  yield* warehouse.insert("identity_operations", [{
    tenant: op.tenant, op_id: op.opId, kind: op.kind, a: op.a, b: op.b, reason: op.reason, at: chDateTime(iso(op.atMs)), actor: op.actor,
  }])
})

/** Every operation, oldest first. */
export const loadOperations = Effect.fn("loadOperations")(function* () {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ tenant: string; op_id: string; kind: OperationRow["kind"]; a: string; b: string; reason: string; ms: string; actor: string }>(
    "SELECT tenant, op_id, kind, a, b, reason, toUnixTimestamp64Milli(at) AS ms, actor FROM identity_operations ORDER BY tenant, at, op_id")
  return rows.map((r): OperationRow => ({ tenant: r.tenant, opId: r.op_id, kind: r.kind, a: r.a, b: r.b, reason: r.reason, atMs: Number(r.ms), actor: r.actor }))
})

/** Every message of these profiles now: those that landed with one of them and never moved, and those moved to one. */
export const subjectMessageIds = Effect.fn("subjectMessageIds")(function* (tenant: string, profileIds: ReadonlyArray<string>) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ message_id: string }>(
    "SELECT message_id FROM event_rows WHERE tenant = {tenant:String} AND profile_id IN {profiles:Array(String)} AND message_id NOT IN " +
      "(SELECT message_id FROM event_profiles WHERE tenant = {tenant:String} GROUP BY message_id HAVING argMax(profile_id, version) NOT IN {profiles:Array(String)}) " +
      "UNION DISTINCT SELECT message_id FROM event_profiles WHERE tenant = {tenant:String} GROUP BY message_id " +
      "HAVING argMax(profile_id, version) IN {profiles:Array(String)}",
    { params: { tenant, profiles: profileIds } })
  return [...new Set(rows.map((r) => r.message_id))].sort()
})

/**
 * The identifiers of these profiles: what their messages stated (normalised, every spelling as sent) and the nodes
 * the graph gives them now; `shared` when the value is shared with others, changed owner (more than one slice) or
 * another profile holds it (one of their messages stated a value identity kept with its holder: not theirs).
 */
export const subjectIdentifiers = Effect.fn("subjectIdentifiers")(function* (
  tenant: string, profileIds: ReadonlyArray<string>, messageIds: ReadonlyArray<string>,
) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ kind: string; value: string; raws: Array<string>; shared: number }>(
    "WITH nodes AS (SELECT kind, value, slice, argMax(profile_id, version) AS profile_id, argMax(shared, version) AS shared " +
      "FROM identity_nodes WHERE tenant = {tenant:String} GROUP BY kind, value, slice), " +
      "mine AS (SELECT toString(kind) AS kind, value FROM nodes WHERE profile_id IN {profiles:Array(String)} " +
      "UNION DISTINCT SELECT toString(s.kind) AS kind, s.value AS value FROM identity_observations ARRAY JOIN sightings AS s " +
      "WHERE tenant = {tenant:String} AND message_id IN {ids:Array(String)}), " +
      "spellings AS (SELECT toString(s.kind) AS kind, s.value AS value, groupUniqArray(s.raw) AS raws " +
      "FROM identity_observations ARRAY JOIN sightings AS s WHERE tenant = {tenant:String} " +
      "AND (toString(s.kind), s.value) IN (SELECT kind, value FROM mine) GROUP BY kind, value), " +
      "sharing AS (SELECT toString(kind) AS kind, value, countIf(shared != '' OR slice > 0 OR profile_id NOT IN {profiles:Array(String)}) AS shared FROM nodes " +
      "WHERE (toString(kind), value) IN (SELECT kind, value FROM mine) GROUP BY kind, value) " +
      "SELECT m.kind AS kind, m.value AS value, sp.raws AS raws, sh.shared AS shared FROM mine AS m " +
      "LEFT JOIN spellings AS sp ON sp.kind = m.kind AND sp.value = m.value " +
      "LEFT JOIN sharing AS sh ON sh.kind = m.kind AND sh.value = m.value ORDER BY kind, value",
    { params: { tenant, profiles: profileIds, ids: messageIds } })
  return rows.map((r) => ({ kind: r.kind, value: r.value, raws: r.raws.filter((x) => x !== r.value).sort(), shared: Number(r.shared) > 0 }))
})

/** A stored observation as it was written: each sighting's raw value, and the values refused with their reason. */
export interface StoredObservation extends ObservationRow {
  readonly timeMs: number
}

/** The tenants with stored observations (whose graphs a rebuild of every tenant recomputes), by name. */
export const observedTenants = Effect.fn("observedTenants")(function* () {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ tenant: string }>("SELECT DISTINCT tenant FROM identity_observations ORDER BY tenant")
  return rows.map((r) => r.tenant)
})

/**
 * Messages read by one statement of loadStoredObservations. The embedded engine runs one statement at a time on the
 * pipeline's connection, which every tenant's landing uses: a big tenant's whole history read as one statement held
 * every other tenant's batches for as long (3.5-10 s at the start of a rebuild of 750,000 messages).
 */
const STORED_PAGE = 10_000

/**
 * Every stored observation (of one tenant, or all) with raw values and refusals, for a rebuild that reads them again:
 * tenant by tenant, a page of message ids at a time, so other statements run between the pages. A page is a range of
 * the order key (its last id found first, reading ids alone), which the engine reads alone; grouped in order with a
 * LIMIT, as loadObservationsPage does, a page took two to three times as long.
 */
export const loadStoredObservations = Effect.fn("loadStoredObservations")(function* (tenant?: string) {
  const warehouse = yield* Warehouse
  const out: Array<StoredObservation> = []
  for (const t of tenant === undefined ? yield* observedTenants() : [tenant]) {
    let after: string | undefined
    for (;;) {
      const from = after === undefined ? "" : " AND message_id > {after:String}"
      const params = { tenant: t, ...(after === undefined ? {} : { after }) }
      // A message stored twice and not merged yet counts twice here: its page holds fewer messages, never more.
      const [last] = yield* warehouse.query<{ message_id: string }>(
        `SELECT message_id FROM identity_observations WHERE tenant = {tenant:String}${from} ORDER BY message_id LIMIT 1 OFFSET ${STORED_PAGE - 1}`,
        { params })
      const rows = yield* warehouse.query<{
        ms: string; message_id: string; sightings: Array<StoredSighting>; refused: Array<{ kind: string; raw: string; reason: string }>
      }>(
        "SELECT message_id, toUnixTimestamp64Milli(argMax(timestamp, observed_at)) AS ms, argMax(sightings, observed_at) AS sightings, " +
          `argMax(refused, observed_at) AS refused FROM identity_observations WHERE tenant = {tenant:String}${from}` +
          `${last === undefined ? "" : " AND message_id <= {last:String}"} GROUP BY message_id ORDER BY message_id`,
        { params: last === undefined ? params : { ...params, last: last.message_id } },
      )
      for (const r of rows) {
        out.push({ tenant: t, messageId: r.message_id, timeMs: Number(r.ms), timestamp: iso(Number(r.ms)), sightings: r.sightings, refused: r.refused })
      }
      if (last === undefined) break
      after = last.message_id
    }
  }
  return out
})

/** The profile that holds a node now (the latest owner of a value that changed owner), if any. */
export const nodeOwner = Effect.fn("nodeOwner")(function* (tenant: string, kind: string, value: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ profile_id: string }>(
    "SELECT argMax(profile_id, version) AS profile_id FROM identity_nodes WHERE tenant = {tenant:String} " +
      "AND kind = {kind:String} AND value = {value:String} GROUP BY slice ORDER BY slice DESC LIMIT 1",
    { params: { tenant, kind, value } })
  return rows[0]?.profile_id
})

/**
 * Bytes of values identifierOwners names in one statement at most, written in (runsWrittenIn): with its SQL the
 * statement stays under what the embedded engine takes written in. The identifiers of a batch of documents (500
 * profiles, a few each: e-mails, user and anonymous ids) are more; in one statement it was bound and took chDB's
 * process-wide turn.
 */
const OWNER_VALUES_BYTES = INLINE_BYTES - 8_000

/**
 * Who holds each of these identifiers (kind, normalised value) now, as nodeOwner finds it (the latest slice's
 * profile), keyed `kind\u0000value`; identifiers nobody holds are absent. One statement per OWNER_VALUES_BYTES of values.
 */
export const identifierOwners = Effect.fn("identifierOwners")(function* (tenant: string, identifiers: ReadonlyArray<readonly [string, string]>) {
  const out = new Map<string, string>()
  if (identifiers.length === 0) return out
  const wanted = new Set(identifiers.map(([kind, value]) => `${kind}\u0000${value}`))
  const warehouse = yield* Warehouse
  for (const values of runsWrittenIn([...new Set(identifiers.map(([, value]) => value))], OWNER_VALUES_BYTES)) {
    const rows = yield* warehouse.query<{ kind: string; value: string; owner: string }>(
      "SELECT kind, value, argMax(profile_id, slice) AS owner FROM (SELECT kind, value, slice, argMax(profile_id, version) AS profile_id " +
        "FROM identity_nodes WHERE tenant = {tenant:String} AND value IN {values:Array(String)} GROUP BY kind, value, slice) GROUP BY kind, value",
      { params: { tenant, values } })
    for (const r of rows) {
      const key = `${r.kind}\u0000${r.value}`
      if (wanted.has(key)) out.set(key, r.owner)
    }
  }
  return out
})

// A profile's messages: those that landed with it (event_rows' order key) or were moved to it (event_profiles),
// kept when no later move took them elsewhere. Parameters {tenant:String} and {profile:String}.
const candidates = "SELECT message_id FROM event_rows WHERE tenant = {tenant:String} AND profile_id = {profile:String} " +
  "UNION ALL SELECT message_id FROM event_profiles WHERE tenant = {tenant:String} AND profile_id = {profile:String}"
const PROFILE_MESSAGES_SQL = `SELECT message_id FROM (SELECT DISTINCT message_id FROM (${candidates})) AS c LEFT JOIN ` +
  `(SELECT message_id, argMax(profile_id, version) AS now FROM event_profiles WHERE tenant = {tenant:String} AND message_id IN (${candidates}) ` +
  "GROUP BY message_id) AS m USING message_id WHERE m.now = '' OR m.now = {profile:String}"

/** Whether a profile has any message now. */
export const profileHasMessages = Effect.fn("profileHasMessages")(function* (tenant: string, profileId: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ message_id: string }>(`${PROFILE_MESSAGES_SQL} LIMIT 1`, { params: { tenant, profile: profileId } })
  return rows.length > 0
})

/** Most message ids a profile read sends as one query parameter; a bigger profile is read by subquery. */
const MAX_ID_PARAMETER = 5000

/** A profile and its messages, which profile reads (warehouse/profiles.ts) select by id, on each table's own key. */
export interface ProfileScope {
  readonly tenant: string
  readonly profileId: string
  readonly ids: ReadonlyArray<string>
}

/** The condition selecting a profile's messages, and its parameters. */
export const scopeCondition = (scope: ProfileScope) => {
  const params0 = { tenant: scope.tenant, profile: scope.profileId }
  // A huge profile's ids are not sent as a parameter (a ClickHouse server takes parameters in the URL).
  const inline = scope.ids.length <= MAX_ID_PARAMETER
  const mine = `tenant = {tenant:String} AND message_id IN ${inline ? "{ids:Array(String)}" : `(${PROFILE_MESSAGES_SQL})`}`
  const params: Record<string, unknown> = inline ? { ...params0, ids: scope.ids } : params0
  return { mine, params }
}

/** Nodes (with their time slices) of a profile. */
export const profileNodes = Effect.fn("profileNodes")(function* (tenant: string, profile: string) {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ kind: string; value: string; slice: number; shared: string }>(
    "SELECT kind, value, slice, argMax(shared, version) AS shared FROM identity_nodes WHERE tenant = {tenant:String} " +
      "GROUP BY kind, value, slice HAVING argMax(profile_id, version) = {profile:String}", { params: { tenant, profile } })
})

export interface StoredLink {
  readonly a: string
  readonly b: string
  readonly message_id: string
  readonly timestamp: string
  readonly rule: string
  readonly trust: string
  readonly status: string
  readonly reason: string
}

/** Every link touching one of these node keys, with its latest status, oldest first. */
export const linksTouching = Effect.fn("linksTouching")(function* (tenant: string, keys: ReadonlyArray<string>) {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<StoredLink>(
    "SELECT a, b, message_id, timestamp, rule, trust, argMax(status, resolved_at) AS status, argMax(reason, resolved_at) AS reason " +
      "FROM identity_links WHERE tenant = {tenant:String} AND (a IN {keys:Array(String)} OR b IN {keys:Array(String)}) " +
      "GROUP BY a, b, message_id, timestamp, rule, trust ORDER BY timestamp, message_id",
    { params: { tenant, keys } })
})

export interface TimelineFilter {
  readonly limit: number
  readonly after: { readonly ms: number; readonly messageId: string } | undefined
  readonly channels: ReadonlyArray<string>
  readonly events: ReadonlyArray<string>
  readonly sinceMs: number | undefined
  readonly untilMs: number | undefined
}

/** A profile's messages, newest first, below the keyset `after`: one row more than the limit tells whether another page follows. */
export const profileTimelineRows = Effect.fn("profileTimelineRows")(function* (tenant: string, profileId: string, q: TimelineFilter) {
  const warehouse = yield* Warehouse
  const where = [
    "tenant = {tenant:String}",
    `message_id IN (${PROFILE_MESSAGES_SQL})`,
    ...(q.channels.length > 0 ? ["channel IN {channels:Array(String)}"] : []),
    ...(q.events.length > 0 ? ["event IN {events:Array(String)}"] : []),
    ...(q.sinceMs !== undefined ? ["timestamp >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')"] : []),
    ...(q.untilMs !== undefined ? ["timestamp < fromUnixTimestamp64Milli({until:Int64}, 'UTC')"] : []),
    ...(q.after !== undefined ? ["(timestamp, message_id) < (fromUnixTimestamp64Milli({afterMs:Int64}, 'UTC'), {afterId:String})"] : []),
  ]
  const params = {
    tenant, profile: profileId, channels: q.channels, events: q.events, since: q.sinceMs ?? 0, until: q.untilMs ?? 0,
    afterMs: q.after?.ms ?? 0, afterId: q.after?.messageId ?? "",
  }
  // LIMIT 1 BY: a replayed copy not yet merged away.
  return yield* warehouse.query<{ message_id: string; ms: string; channel: string; source: string; type: string; event: string }>(
    "SELECT message_id, toUnixTimestamp64Milli(timestamp) AS ms, channel, toString(source) AS source, type, event FROM event_rows " +
      `WHERE ${where.join(" AND ")} ORDER BY timestamp DESC, message_id DESC LIMIT 1 BY message_id LIMIT ${q.limit + 1}`,
    { params })
})

/** Per profile of a tenant, the e-mail addresses and phone numbers its messages were seen with. */
export const profileContacts = Effect.fn("profileContacts")(function* (tenant: string) {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ profile_id: string; emails: Array<string>; phones: Array<string> }>(
    "SELECT e.profile_id AS profile_id, groupUniqArrayIf(s.value, s.kind = 'email') AS emails, " +
      "groupUniqArrayIf(s.value, s.kind = 'phone') AS phones FROM identity_observations AS o ARRAY JOIN o.sightings AS s " +
      "INNER JOIN (SELECT message_id, profile_id FROM events WHERE tenant = {tenant:String}) AS e ON e.message_id = o.message_id " +
      "WHERE o.tenant = {tenant:String} AND s.kind IN ('email', 'phone') GROUP BY profile_id",
    { params: { tenant } })
})

/** Ids of the suggestions an operator dismissed. */
export const dismissedSuggestionIds = Effect.fn("dismissedSuggestionIds")(function* (tenant: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ a: string }>(
    "SELECT a FROM identity_operations WHERE tenant = {tenant:String} AND kind = 'dismiss'", { params: { tenant } })
  return rows.map((r) => r.a)
})

/**
 * The pairs of profiles that hold two identifiers an operator separated (identity_operations kind separate, `a` and
 * `b` written KIND:VALUE), each identifier's profile now as nodeOwner reads it (its latest slice).
 */
export const separatedProfiles = Effect.fn("separatedProfiles")(function* (tenant: string) {
  const warehouse = yield* Warehouse
  const ops = yield* warehouse.query<{ a: string; b: string }>(
    "SELECT DISTINCT a, b FROM identity_operations WHERE tenant = {tenant:String} AND kind = 'separate'", { params: { tenant } })
  if (ops.length === 0) return []
  const identifier = (key: string) => [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(":") + 1)] as const
  const owners = yield* identifierOwners(tenant, ops.flatMap((o) => [identifier(o.a), identifier(o.b)]))
  const ownerOf = (key: string) => owners.get(identifier(key).join("\u0000"))
  return ops.flatMap((o) => {
    const a = ownerOf(o.a)
    const b = ownerOf(o.b)
    return a === undefined || b === undefined ? [] : [[a, b] as const]
  })
})

/**
 * The latest decision recorded about a suggestion of a tenant: its dismissal (`a` is its id), or the link its
 * acceptance recorded (whose reason starts with `acceptedReason`, as identity/decisions.ts writes it).
 */
export const suggestionDecision = Effect.fn("suggestionDecision")(function* (tenant: string, id: string, acceptedReason: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ kind: "link" | "dismiss"; op_id: string; ms: string; actor: string }>(
    "SELECT kind, op_id, toUnixTimestamp64Milli(at) AS ms, actor FROM identity_operations WHERE tenant = {tenant:String} AND " +
      "((kind = 'dismiss' AND a = {id:String}) OR (kind = 'link' AND startsWith(reason, {accepted:String}))) ORDER BY at DESC, op_id DESC LIMIT 1",
    { params: { tenant, id, accepted: acceptedReason } })
  const row = rows[0]
  return row === undefined ? undefined : { accepted: row.kind === "link", opId: row.op_id, atMs: Number(row.ms), actor: row.actor }
})

/**
 * One identifier per profile that the graph gives it now (not shared, not sliced), the first kind of `priority`
 * first: what a message about the profile carries so identity resolves it to the same profile (audience events).
 */
export const anchorNodes = Effect.fn("anchorNodes")(function* (tenant: string, profiles: ReadonlyArray<string>, priority: ReadonlyArray<string>) {
  if (profiles.length === 0) return []
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ profile_id: string; anchor: [string, string] }>(
    "SELECT profile_id, argMin((node_kind, node_value), (indexOf({priority:Array(String)}, node_kind) = 0, indexOf({priority:Array(String)}, node_kind), node_value)) AS anchor " +
      "FROM (SELECT toString(kind) AS node_kind, value AS node_value, argMax(profile_id, version) AS profile_id FROM identity_nodes " +
      "WHERE tenant = {tenant:String} AND slice = 0 AND shared = '' GROUP BY kind, value) " +
      "WHERE profile_id IN {profiles:Array(String)} GROUP BY profile_id",
    { params: { tenant, profiles, priority } })
  return rows.map((r) => ({ profile_id: r.profile_id, kind: r.anchor[0], value: r.anchor[1] }))
})

/**
 * Every identifier of these kinds with the profile holding it now (the latest owner of a value that changed owner),
 * or only those of some profiles: what an identifier-attached decision (a restriction, consent/restriction.ts)
 * resolves through at the time it is asked.
 */
export const currentNodes = Effect.fn("currentNodes")(function* (
  tenant: string, kinds: ReadonlyArray<string>, profiles?: ReadonlyArray<string>,
) {
  if (kinds.length === 0 || profiles?.length === 0) return []
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ kind: string; value: string; profile_id: string }>(
    "SELECT kind, value, argMax(profile_id, (slice, version)) AS profile_id FROM identity_nodes " +
      "WHERE tenant = {tenant:String} AND kind IN {kinds:Array(String)} GROUP BY kind, value" +
      (profiles === undefined ? "" : " HAVING profile_id IN {profiles:Array(String)}"),
    { params: { tenant, kinds, profiles: profiles ?? [] } })
})

/**
 * The merges of a tenant's profiles (profile_merges kind merge): which profile went into which, and when last. What
 * says why a suggestion is no longer open when its two profiles are now one (identity/decisions.ts).
 */
export const profileMergesOf = Effect.fn("profileMergesOf")(function* (tenant: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ from_profile: string; to_profile: string; ms: string }>(
    "SELECT from_profile, to_profile, toUnixTimestamp64Milli(max(at)) AS ms FROM profile_merges " +
      "WHERE tenant = {tenant:String} AND kind = 'merge' AND from_profile != to_profile GROUP BY from_profile, to_profile",
    { params: { tenant } })
  return rows.map((r) => ({ from: r.from_profile, to: r.to_profile, atMs: Number(r.ms) }))
})

