// Reads of the `events` and `profiles` views (events with each message's current profile; one row per profile),
// and of one profile across tables (its identifiers, events, traits, merges, sentiment), which no table's owner
// module holds.
import { Effect } from "effect"
import { type ProfileScope, scopeCondition } from "./identity.ts"
import { Warehouse } from "./warehouse.ts"

/** Each message of a tenant with its profile now. */
export const currentMessageProfiles = Effect.fn("currentMessageProfiles")(function* (tenant: string) {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ message_id: string; profile_id: string }>(
    "SELECT message_id, profile_id FROM events WHERE tenant = {tenant:String}", { params: { tenant } })
})

/** Per profile of a tenant, the names its messages' traits state (name, or first_name and last_name). */
export const profileNames = Effect.fn("profileNames")(function* (tenant: string) {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ profile_id: string; names: Array<string> }>(
    "SELECT profile_id, groupUniqArrayIf(name, name != '') AS names FROM (SELECT profile_id, " +
      "if(JSONExtractString(traits, 'name') != '', trim(JSONExtractString(traits, 'name')), " +
      "trim(concat(JSONExtractString(traits, 'first_name'), ' ', JSONExtractString(traits, 'last_name')))) AS name " +
      "FROM events WHERE tenant = {tenant:String} AND traits != '{}') GROUP BY profile_id HAVING length(names) > 0",
    { params: { tenant } })
})

/** Events, profiles and time span per channel, busiest first. */
export const eventsByChannel = Effect.fn("eventsByChannel")(function* () {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ channel: string; events: string; profiles: string; first: string; last: string }>(
    "SELECT channel, count() AS events, uniqExact(profile_id) AS profiles, min(timestamp) AS first, max(timestamp) AS last FROM events GROUP BY channel ORDER BY events DESC")
})

/** The ten most frequent named events (page views aside). */
export const frequentEvents = Effect.fn("frequentEvents")(function* () {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ channel: string; event: string; events: string }>(
    "SELECT channel, event, count() AS events FROM events WHERE type != 'page' AND event != '' GROUP BY channel, event ORDER BY events DESC, event LIMIT 10")
})

/** The e-mail address of the profile seen on the most channels (none when no profile has one). */
export const widestProfileEmail = Effect.fn("widestProfileEmail")(function* () {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ email: string }>(
    "SELECT tupleElement(arrayFirst(i -> tupleElement(i, 1) = 'email', identifiers), 2) AS email FROM profiles WHERE email != '' ORDER BY length(channels) DESC, events DESC, email LIMIT 1")
})

/** First and last day of the social channel's events. */
export const socialChannelSpan = Effect.fn("socialChannelSpan")(function* () {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<{ since: string; until: string }>(
    "SELECT toString(toDate(min(timestamp))) AS since, toString(toDate(max(timestamp))) AS until FROM events WHERE channel = 'social'")
})

// ---------------------------------------------------------------------------------------------------------------
// One profile's read (GET /v1/profiles/{identifier}): each read selects the profile's messages by id (scopeCondition),
// on each table's own key.

/**
 * A profile's messages now, with the profiles they landed under (event_rows' order key starts (tenant, profile_id)):
 * reads of event_rows then take key ranges instead of probing the message-id index. `landed` maps each landing
 * profile to how many of this profile's messages landed under it; undefined when that is not known (a huge set of
 * messages moved in).
 */
export interface ReadScope extends ProfileScope {
  readonly landed: Readonly<Record<string, number>> | undefined
  /**
   * Whether every message that landed under the landing profiles is this profile's now (no split took one
   * elsewhere); known without another read when all of them landed under this profile, else undefined.
   */
  readonly whole?: boolean | undefined
  /**
   * Messages that landed under the profile or were moved to it, and are another profile's now (a later move took
   * them). With `ids`, every message that ever was this profile's: a consent read needs no moves of its own.
   */
  readonly gone?: ReadonlyArray<string> | undefined
}

// Candidates: messages that landed with the profile, and messages moved to it; kept unless a later move took them
// elsewhere (as warehouse/identity.ts reads a profile's messages), each with its landing profile when it is this one.
// Those not kept come back too (kept = 0): a landed message moved away means the profile's states are not whole.
// The profile is `owner` (a WITH of the statement): a parameter, or an identifier's owner looked up in the same
// statement, so an uncached read by identifier costs one round trip to the engine here instead of two.
// One pass groups the landed rows (version 0, no profile) with every move of every candidate (event_profiles by its
// order key; versions are write times, never 0): a candidate's latest move is the argMax, '' when it never moved.
// Grouping them, instead of joining candidates to their moves, reads event_rows and event_profiles once each fewer.
const READ_SCOPE_SQL = "SELECT owner AS profile_id, message_id, max(here) AS here, toUInt8(argMax(moved_to, version) IN ('', owner)) AS kept FROM (" +
  "SELECT message_id, 1 AS here, '' AS moved_to, toUInt64(0) AS version FROM event_rows WHERE tenant = {tenant:String} AND profile_id = owner " +
  "UNION ALL SELECT message_id, 0 AS here, profile_id AS moved_to, version FROM event_profiles WHERE tenant = {tenant:String} AND message_id IN " +
  "(SELECT message_id FROM event_rows WHERE tenant = {tenant:String} AND profile_id = owner " +
  "UNION ALL SELECT message_id FROM event_profiles WHERE tenant = {tenant:String} AND profile_id = owner)) " +
  "GROUP BY message_id HAVING here = 1 OR max(moved_to = owner) = 1"

/**
 * SQL of a profile's read scope as a table (profile_id, message_id, here, kept) for {tenant:String} and
 * {profile:String}: a statement about the profile's messages selects them in the engine with it, instead of taking
 * them as an array parameter (a profile can hold hundreds of thousands).
 */
export const PROFILE_SCOPE_SQL = `WITH {profile:String} AS owner ${READ_SCOPE_SQL}`

// The owner of an identifier now (as warehouse/identity.ts nodeOwner reads it: the latest slice's latest version),
// '' when nobody holds it; '' matches no profile's rows. Parameters {tenant}, {kind}, {value}.
export const OWNER_SQL = "(SELECT argMax(profile_id, version) FROM identity_nodes WHERE tenant = {tenant:String} AND kind = {kind:String} " +
  "AND value = {value:String} GROUP BY slice ORDER BY slice DESC LIMIT 1)"

/** Most moved-in messages whose landing profiles are looked up (by the message-id index) for a read scope. */
export const MAX_MOVED_IN = 5000

/** Whose scope to read: a profile by id, or whoever holds an identifier (kind and normalised value) now. */
export type ScopeOwner = { readonly profileId: string } | { readonly kind: string; readonly value: string }

/** Whose scopes to read: profiles by id, or whoever holds an identifier (kind and normalised value) now. */
export type ScopeOwners = { readonly profileIds: ReadonlyArray<string> } | { readonly kind: string; readonly value: string }

/**
 * The read scopes of many profiles of a tenant, or of whoever holds an identifier now (looked up in the same
 * statement), in one statement whatever their number (the engine's fixed cost is paid per statement and sub-read, not
 * per profile): the landed rows and every move of every candidate message (those that landed under one of them or
 * were moved to one), grouped by message: a candidate is kept unless its latest move took it elsewhere. A second statement
 * looks up where kept moved-in messages landed, only when some were (and at most MAX_MOVED_IN a profile: beyond
 * that its `landed` is undefined). A profile with no candidate has no scope.
 */
export const profileReadScopesOf = Effect.fn("profileReadScopesOf")(function* (tenant: string, owners: ScopeOwners) {
  const out = new Map<string, ReadScope & { readonly gone: ReadonlyArray<string> }>()
  const byId = "profileIds" in owners
  if (byId && owners.profileIds.length === 0) return out
  const warehouse = yield* Warehouse
  // As READ_SCOPE_SQL, for many owners: per candidate, the owners it landed under, its latest move ('' when none) and
  // the owners it was ever moved to. One owner (a read's) is one value, `owner`: a parameter, or the identifier's
  // owner looked up in the same statement; many are a set, named once (in each of the four places, 500 profiles made
  // the statement too long to write in: bound, it took chDB's process-wide turn, warehouse/inline-params.ts).
  const one = !byId ? OWNER_SQL : owners.profileIds.length === 1 ? "{scope_profile:String}" : undefined
  const mine = (column: string) => one !== undefined ? `${column} = owner` : `${column} IN scope_profiles`
  const rows = yield* warehouse.query<{ owner?: string; message_id: string; here: Array<string>; latest: string; moved: Array<string> }>(
    `WITH ${one === undefined ? "{scope_profiles:Array(String)} AS scope_profiles" : `${one} AS owner`} SELECT ${byId ? "" : "owner, "}message_id, groupArrayIf(landing, version = 0) AS here, ` +
      `argMax(moved_to, version) AS latest, groupArrayIf(moved_to, version > 0 AND ${mine("moved_to")}) AS moved FROM (` +
      `SELECT message_id, profile_id AS landing, '' AS moved_to, toUInt64(0) AS version FROM event_rows WHERE tenant = {tenant:String} AND ${mine("profile_id")} ` +
      "UNION ALL SELECT message_id, '' AS landing, profile_id AS moved_to, version FROM event_profiles WHERE tenant = {tenant:String} AND message_id IN " +
      `(SELECT message_id FROM event_rows WHERE tenant = {tenant:String} AND ${mine("profile_id")} ` +
      `UNION ALL SELECT message_id FROM event_profiles WHERE tenant = {tenant:String} AND ${mine("profile_id")})) ` +
      "GROUP BY message_id HAVING length(here) > 0 OR length(moved) > 0",
    {
      params: !byId ? { tenant, kind: owners.kind, value: owners.value }
        : one === undefined ? { tenant, scope_profiles: owners.profileIds } : { tenant, scope_profile: owners.profileIds[0] },
    })
  const profiles = byId ? owners.profileIds : rows[0]?.owner === undefined || rows[0].owner === "" ? [] : [rows[0].owner]
  // Each profile's candidates: kept unless their latest move took them elsewhere.
  const candidates = new Map<string, Array<{ readonly m: string; readonly here: boolean; readonly kept: boolean }>>()
  for (const r of rows) {
    for (const p of new Set([...r.here, ...r.moved])) {
      let list = candidates.get(p)
      if (list === undefined) candidates.set(p, list = [])
      list.push({ m: r.message_id, here: r.here.includes(p), kept: r.latest === "" || r.latest === p })
    }
  }
  // Kept moved-in messages whose landing profiles are to be looked up, and whose they are now.
  const lookUp: Array<string> = []
  const lookUpOwners: Array<string> = []
  for (const profileId of profiles) {
    const mineNow = candidates.get(profileId)
    if (mineNow === undefined) continue
    const ids: Array<string> = []
    const gone: Array<string> = []
    const movedIn: Array<string> = []
    let goneFromHere = false
    for (const c of mineNow) {
      if (c.kept) {
        ids.push(c.m)
        if (!c.here) movedIn.push(c.m)
      } else {
        gone.push(c.m)
        if (c.here) goneFromHere = true
      }
    }
    const hereCount = ids.length - movedIn.length
    const landed = movedIn.length > MAX_MOVED_IN ? undefined : hereCount > 0 ? { [profileId]: hereCount } : {}
    if (landed !== undefined) for (const m of movedIn) lookUp.push(m), lookUpOwners.push(profileId)
    // Only this profile's own landing: whole unless one of the messages that landed here was moved away.
    const whole = movedIn.length === 0 && hereCount > 0 ? !goneFromHere : undefined
    out.set(profileId, { tenant, profileId, ids, landed, whole, gone })
  }
  if (lookUp.length > 0) {
    const from = yield* warehouse.query<{ owner: string; profile_id: string; n: string }>(
      "SELECT transform(message_id, {ids:Array(String)}, {owners:Array(String)}, '') AS owner, profile_id, uniqExact(message_id) AS n " +
        "FROM event_rows WHERE tenant = {tenant:String} AND message_id IN {ids:Array(String)} GROUP BY owner, profile_id",
      { params: { tenant, ids: lookUp, owners: lookUpOwners } })
    for (const f of from) {
      const landed = out.get(f.owner)?.landed as Record<string, number> | undefined
      if (landed !== undefined) landed[f.profile_id] = (landed[f.profile_id] ?? 0) + Number(f.n)
    }
  }
  return out
})

/**
 * A profile's read scope (profileReadScopesOf of one); by identifier, the owner is looked up in the same statement.
 * `undefined` when nothing is found (an identifier nobody holds, or a profile without messages): the caller says which.
 */
export const profileReadScopeOf = Effect.fn("profileReadScopeOf")(function* (tenant: string, owner: ScopeOwner) {
  const scopes = yield* profileReadScopesOf(tenant, "profileId" in owner ? { profileIds: [owner.profileId] } : owner)
  return scopes.values().next().value
})

/** A profile's read scope (no messages: an empty one). */
export const profileReadScope = Effect.fn("profileReadScope")(function* (tenant: string, profileId: string) {
  const scope = yield* profileReadScopeOf(tenant, { profileId })
  return scope ?? ({ tenant, profileId, ids: [], landed: {}, whole: undefined, gone: [] } satisfies ReadScope)
})

/**
 * The condition selecting a scope's rows of event_rows: by its order key when the landing profiles are known, and by
 * the key prefix (tenant, profile_id) alone when every message that landed under the profile is its own (`whole`):
 * then the message ids would only cost a set to build and test per row.
 */
export const eventRowsCondition = (scope: ReadScope) => {
  if (scope.whole === true) {
    return { mine: "tenant = {tenant:String} AND profile_id = {profile:String}", params: { tenant: scope.tenant, profile: scope.profileId } }
  }
  const { mine, params } = scopeCondition(scope)
  return scope.landed === undefined ? { mine, params }
    : { mine: `${mine} AND profile_id IN {landed:Array(String)}`, params: { ...params, landed: Object.keys(scope.landed) } }
}

/**
 * How identity's reason for refusing a claim begins (identity/graph.ts claimedReason): a value another user id holds,
 * only stated by this profile's user id, stays with its holder.
 */
export const CLAIMED_REASON_START = "stated by a second "

/**
 * The claims among some links (`claims`: a statement giving (a, b, message_id) of identity_claims, the refused claims
 * kept apart by migration 085) that are still refused as claims: each link's latest resolution, read from
 * identity_links by its whole key. `owner`, an expression of the message, keeps the claimant's profile.
 */
const stillClaimed = (claims: string, owner: string) =>
  `SELECT ${owner} AS claim_owner, message_id, b, argMax(status, resolved_at) AS latest_status, argMax(reason, resolved_at) AS latest_reason FROM identity_links ` +
  `WHERE tenant = {tenant:String} AND (a, b, message_id) IN (${claims}) GROUP BY a, b, message_id ` +
  `HAVING latest_status = 'refused' AND startsWith(latest_reason, '${CLAIMED_REASON_START}')`

/**
 * Per profile of a tenant ({tenant:String}), the identifiers its messages only claimed: refused links whose latest
 * reason is a claim, by the profile their message belongs to now, as keys ("kind:value", `claimed`) and as the
 * messages wrote them (`claimed_raws`, the sightings' raw text: what their traits hold). A link's `b` is the claimed
 * value (its `a` the message's anchor, the claimant's user id). For a tenant's profiles at once (exports, audiences).
 */
export const CLAIMED_BY_PROFILE_SQL = "SELECT ev.profile_id AS profile_id, groupUniqArray(c.b) AS claimed, groupUniqArray(o.raw) AS claimed_raws " +
  `FROM (${stillClaimed("SELECT a, b, message_id FROM identity_claims WHERE tenant = {tenant:String}", "''")}) AS c ` +
  "INNER JOIN (SELECT message_id, profile_id FROM events WHERE tenant = {tenant:String} " +
  "AND message_id IN (SELECT message_id FROM identity_claims WHERE tenant = {tenant:String})) AS ev ON ev.message_id = c.message_id " +
  "LEFT JOIN (SELECT message_id, concat(toString(s.kind), ':', s.value) AS key, s.raw AS raw FROM identity_observations ARRAY JOIN sightings AS s " +
  "WHERE tenant = {tenant:String} AND message_id IN (SELECT message_id FROM identity_claims WHERE tenant = {tenant:String})) AS o " +
  "ON o.message_id = c.message_id AND o.key = c.b GROUP BY ev.profile_id"

// The refused claims of a profile's messages (CLAIMED_REASON_START), as (key "kind:value", reason), found by the
// messages in identity_claims: a tenant without claims reads nothing.
const claimedLinks = (mine: string, owner: string | undefined) =>
  `SELECT ${owner === undefined ? "" : "claim_owner, "}b AS key, any(latest_reason) AS reason ` +
  `FROM (${stillClaimed(`SELECT a, b, message_id FROM identity_claims WHERE ${mine}`, owner ?? "''")}) GROUP BY ${owner === undefined ? "" : "claim_owner, "}key`

// A profile's identifiers grouped by (kind, value) with their provenance; after a cursor ({afterKind}, {afterValue}).
// With `owner` (an expression of the message), many profiles' at once: grouped by (owner, kind, value). `claimed` is
// the reason identity refused the value to the profile when its messages only claimed it (another user id holds it),
// '' for the profile's own: a read shows a claimed value apart, never as the profile's.
export const identifierGroups = (mine: string, after: boolean, owner?: string) =>
  "SELECT g.*, c.reason AS claimed FROM (" +
  `SELECT ${owner === undefined ? "" : `${owner} AS owner, `}s.kind AS kind, s.value AS value, any(s.raw) AS raw, ` +
  "arrayElement(arraySort(x -> indexOf(['verified', 'stated', 'unverified'], x), groupUniqArray(s.trust)), 1) AS trust, " +
  "min(timestamp) AS first, max(timestamp) AS last, count() AS n FROM identity_observations ARRAY JOIN sightings AS s " +
  `WHERE ${mine} ${after ? "AND (s.kind, s.value) > ({afterKind:String}, {afterValue:String})" : ""} GROUP BY ${owner === undefined ? "" : "owner, "}kind, value` +
  `) AS g LEFT JOIN (${claimedLinks(mine, owner)}) AS c ON c.key = concat(toString(g.kind), ':', g.value)${owner === undefined ? "" : " AND c.claim_owner = g.owner"}`

/** A profile's observed identifiers, a page at a time by (kind, value), and how many it has in all. */
export const profileIdentifierPage = Effect.fn("profileIdentifierPage")(function* (
  scope: ProfileScope, limit: number, after: { readonly kind: string; readonly value: string } | undefined,
) {
  const warehouse = yield* Warehouse
  const { mine, params } = scopeCondition(scope)
  const grouped = identifierGroups(mine, after !== undefined)
  const page = `ORDER BY kind, value LIMIT ${Math.max(1, Math.trunc(limit)) + 1}`
  if (after === undefined) {
    // The first page counts the groups as it goes (a window over them, before LIMIT): one statement.
    const rows = yield* warehouse.query<{ kind: string; value: string; raw: string; trust: string; first: string; last: string; n: string; claimed: string; total: string }>(
      `SELECT *, count() OVER () AS total FROM (${grouped}) ${page}`, { params })
    return { rows, total: Number(rows[0]?.total ?? 0) }
  }
  // Later pages count apart (their groups start after the cursor): the count reads only the pairs, not their provenance.
  const [rows, total] = yield* Effect.all([
    warehouse.query<{ kind: string; value: string; raw: string; trust: string; first: string; last: string; n: string; claimed: string }>(
      `${grouped} ${page}`, { params: { ...params, afterKind: after.kind, afterValue: after.value } }),
    warehouse.query<{ n: string }>(
      `SELECT uniqExact(s.kind, s.value) AS n FROM identity_observations ARRAY JOIN sightings AS s WHERE ${mine}`, { params }),
  ], { concurrency: "unbounded" })
  return { rows, total: Number(total[0]?.n ?? 0) }
})

/**
 * Columns another module adds to the summary's one statement (each a scalar subquery, named), with their parameters:
 * an uncached profile read is then one statement after its scope instead of one per part, since the embedded engine
 * runs statements one at a time and each has its own fixed cost. Parameters of the same name must mean the same
 * ({tenant}, {profile}, {ids}, {landed} are the scope's everywhere).
 */
export interface ReadColumns {
  readonly columns: Readonly<Record<string, string>>
  readonly params: Readonly<Record<string, unknown>>
}

/** One set of parameters for a statement made of parts; a name bound to two different values is a programming error. */
export const mergedParams = (...sets: ReadonlyArray<Readonly<Record<string, unknown>>>) => {
  const out: Record<string, unknown> = {}
  for (const set of sets) {
    for (const [k, v] of Object.entries(set)) {
      if (k in out && JSON.stringify(out[k]) !== JSON.stringify(v)) throw new Error(`profile read: parameter ${k} bound twice with different values`)
      out[k] = v
    }
  }
  return out
}

const selectColumns = (also: ReadColumns | undefined) =>
  also === undefined ? "" : Object.entries(also.columns).map(([name, sql]) => `, ${sql} AS ${name}`).join("")

/** Claimed identifiers a first page is read with beyond its own rows (see firstPageRows): a profile's claims are few. */
export const CLAIMED_PAST_PAGE = 100

/**
 * The identifiers a profile's first page is read with (`grouped`: identifierGroups, with `owner` many profiles' at
 * once), each with the count of all (`total`): its claimed ones first (up to CLAIMED_PAST_PAGE), then the others by
 * (kind, value), `limit` + 1 + CLAIMED_PAST_PAGE in all. In (kind, value) order the first `limit` + 1 are the page's,
 * and every claimed identifier is among them or after them, so a trait naming a claimed value is known for what it is
 * however many identifiers come before it. A top-N sort, as the page alone (a row number over 100,000 identifiers cost
 * 70-80 ms more).
 */
export const firstPageRows = (grouped: string, limit: number, owner = false) =>
  `SELECT *, count() OVER (${owner ? "PARTITION BY owner" : ""}) AS total FROM (${grouped}) ` +
  `ORDER BY ${owner ? "owner, " : ""}claimed = '', kind, value LIMIT ${Math.max(1, Math.trunc(limit)) + 1 + CLAIMED_PAST_PAGE}${owner ? " BY owner" : ""}`

/** The first page of a profile's identifiers as one column (`identifiers`) of another statement; see identifierPageOf. */
export const identifierPageColumns = (scope: ProfileScope, limit: number): ReadColumns => {
  const { mine, params } = scopeCondition(scope)
  return {
    columns: {
      identifiers: "(SELECT arraySort(x -> (x.1, x.2), groupArray((kind, value, raw, trust, toString(first), toString(last), toString(n), toString(total), claimed))) " +
        `FROM (${firstPageRows(identifierGroups(mine, false), limit)}))`,
    },
    params,
  }
}

/**
 * The rows of identifierPageColumns' column in (kind, value) order, as profileIdentifierPage gives them: the first
 * `limit` + 1 are the page's, and every claimed identifier is among them or past them (firstPageRows).
 */
export const identifierPageOf = (value: unknown) => {
  // A document stored before `claimed` was read has 8 elements: none claimed.
  const rows = ((value ?? []) as Array<[string, string, string, string, string, string, string, string, string?]>)
    .map(([kind, v, raw, trust, first, last, n, total, claimed]) => ({ kind, value: v, raw, trust, first, last, n, total, claimed: claimed ?? "" }))
  return { rows, total: Number(rows[0]?.total ?? 0) }
}

/** A profile's summary: events per channel, trait statements, merges, latest sentiment, newest events. */
export interface ProfileSummary {
  /** (channel, events, first, last), by channel. */
  readonly channels: Array<[string, string, string, string]>
  /** (name, source, identified, (raw JSON value, at, message id) of the latest, first at), per name, source, identified. */
  readonly statements: Array<[string, string, number, [string, string, string], string]>
  readonly merges: Array<[string, string, string, string, string, string]>
  readonly sentiment: Array<[string, number, string]>
  /** (message id, epoch ms, timestamp, channel, source, type, event), newest first, one per message. */
  readonly events: Array<[string, string, string, string, string, string, string]>
  /** The values of the columns the caller added (ReadColumns), by name. */
  readonly also: Readonly<Record<string, unknown>>
}

/**
 * Most messages whose rows a summary takes into the process (one read of event_rows, grouped here); a bigger profile
 * is grouped by the engine (summaryByEngine), so its rows never all cross into JavaScript.
 */
export const SUMMARY_IN_PROCESS_MAX = 2000

// Merges (two reads instead of `from_profile = P OR to_profile = P`, which no index can serve: the first by the order
// key) and the latest scored sentiment, each as one array value.
const MERGES_SQL = "(SELECT groupArray((kind, from_profile, to_profile, toString(messages), reason, toString(at))) FROM (SELECT kind, from_profile, to_profile, messages, reason, at " +
  "FROM (SELECT * FROM profile_merges WHERE tenant = {tenant:String} AND from_profile = {profile:String} UNION ALL " +
  "SELECT * FROM profile_merges WHERE tenant = {tenant:String} AND to_profile = {profile:String} AND from_profile != {profile:String}) ORDER BY at))"
const sentimentSql = (texts: string) => "(SELECT groupArray((label, score, toString(timestamp))) FROM (SELECT toString(label) AS label, score, timestamp FROM sentiment " +
  `WHERE ${texts} AND status = 'scored' ORDER BY timestamp DESC LIMIT 1))`

/**
 * The rest of a profile in one statement (one round trip to the engine): events per channel, the latest statement of
 * each trait per source, merges, the latest scored sentiment and the newest `limit` events (one more tells whether
 * the timeline has a next page). A profile of up to `inProcessMax` messages has its rows of event_rows read once and
 * grouped here: grouping them in the engine took a sub-read of event_rows per part (channels, traits, events), each
 * with its own fixed cost (about 25 ms against 13.5 ms at 1M events, test/bench/profiles.ts).
 */
export const profileSummary = Effect.fn("profileSummary")(function* (
  scope: ReadScope, limit: number, inProcessMax = SUMMARY_IN_PROCESS_MAX, also?: ReadColumns,
) {
  return scope.ids.length <= inProcessMax ? yield* summaryInProcess(scope, limit, also) : yield* summaryByEngine(scope, limit, also)
})

/** The values of the columns a summary was asked to add (ReadColumns), by name. */
const alsoOf = (row: Record<string, unknown> | undefined, also: ReadColumns | undefined) =>
  Object.fromEntries(Object.keys(also?.columns ?? {}).map((name) => [name, row?.[name]]))

/** Newer first: by time, then message id (as ORDER BY timestamp DESC, message_id DESC). */
const newer = (a: { ms: number; id: string }, b: { ms: number; id: string }) =>
  a.ms !== b.ms ? b.ms - a.ms : a.id < b.id ? 1 : a.id > b.id ? -1 : 0

/** The rows of event_rows a profile's summary reads, as summaryInProcess selects them (and profile documents, in batches). */
export type SummaryRow = [string, string, string, string, string, string, string, number, Array<[string, string]>]

/** Events per channel, the latest statement of each trait per source and the newest `limit` (+1) events, from a profile's rows. */
export const summaryOfRows = (eventRows: ReadonlyArray<SummaryRow>, limit: number): Pick<ProfileSummary, "channels" | "statements" | "events"> => {
  const rows = eventRows.map(([channel, ms, at, id, source, type, event, identified, kvs]) =>
    ({ channel, ms: Number(ms), msText: ms, at, id, source, type, event, identified: Number(identified), kvs }))
  const channels = new Map<string, { n: number; first: string; last: string }>()
  // Per (name, source, identified): the latest statement by (time, message id) and the first time.
  const statements = new Map<string, { name: string; source: string; identified: number; latest: (typeof rows)[number]; value: string; first: string }>()
  for (const row of rows) {
    const c = channels.get(row.channel)
    if (c === undefined) channels.set(row.channel, { n: 1, first: row.at, last: row.at })
    else {
      c.n++
      // Fixed-width 'YYYY-MM-DD hh:mm:ss.sss' in one time zone: text order is time order.
      if (row.at < c.first) c.first = row.at
      if (row.at > c.last) c.last = row.at
    }
    for (const [name, value] of row.kvs) {
      if (value === "null" || value === "\"\"") continue
      const key = JSON.stringify([name, row.source, row.identified])
      const s = statements.get(key)
      if (s === undefined) statements.set(key, { name, source: row.source, identified: row.identified, latest: row, value, first: row.at })
      else {
        if (newer(row, s.latest) < 0) Object.assign(s, { latest: row, value })
        if (row.at < s.first) s.first = row.at
      }
    }
  }
  const take = Math.max(1, Math.trunc(limit)) + 1
  const seen = new Set<string>()
  const events: ProfileSummary["events"] = []
  for (const row of [...rows].sort(newer)) {
    if (events.length >= take) break
    if (seen.has(row.id)) continue
    seen.add(row.id)
    events.push([row.id, row.msText, row.at, row.channel, row.source, row.type, row.event])
  }
  return {
    channels: [...channels].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([channel, c]) => [channel, String(c.n), c.first, c.last]),
    statements: [...statements.values()].map((s) => [s.name, s.source, s.identified, [s.value, s.latest.at, s.latest.id], s.first]),
    events,
  }
}

const summaryInProcess = Effect.fn("summaryInProcess")(function* (scope: ReadScope, limit: number, also?: ReadColumns) {
  const warehouse = yield* Warehouse
  const { mine: texts, params: textParams } = scopeCondition(scope)
  const { mine, params } = eventRowsCondition(scope)
  // The trait pairs come from the engine (JSONExtractKeysAndValuesRaw, as summaryByEngine reads them): the raw
  // value text is exactly the engine's.
  const [r] = yield* warehouse.query<{
    merges: ProfileSummary["merges"]
    sentiment: ProfileSummary["sentiment"]
    rows: Array<SummaryRow>
  }>(
    `WITH ${MERGES_SQL} AS m, ${sentimentSql(texts)} AS s SELECT m AS merges, s AS sentiment, groupArray((toString(channel), ` +
      "toString(toUnixTimestamp64Milli(timestamp)), toString(timestamp), message_id, toString(source), toString(type), event, toUInt8(user_id != ''), " +
      `if(traits = '{}', [], JSONExtractKeysAndValuesRaw(traits)))) AS rows${selectColumns(also)} FROM event_rows WHERE ${mine}`,
    { params: mergedParams(textParams, params, also?.params ?? {}) })
  const grouped = summaryOfRows(r?.rows ?? [], limit)
  return {
    ...grouped,
    merges: r?.merges ?? [],
    sentiment: r?.sentiment ?? [],
    also: alsoOf(r, also),
  } satisfies ProfileSummary
})

const summaryByEngine = Effect.fn("summaryByEngine")(function* (scope: ReadScope, limit: number, also?: ReadColumns) {
  const warehouse = yield* Warehouse
  const { mine: texts, params: textParams } = scopeCondition(scope)
  const { mine, params } = eventRowsCondition(scope)
  const rows = yield* warehouse.query<ProfileSummary & Record<string, unknown>>(
    "SELECT " +
      "(SELECT groupArray((channel, n, first, last)) FROM (SELECT toString(channel) AS channel, count() AS n, toString(min(timestamp)) AS first, " +
      `toString(max(timestamp)) AS last FROM event_rows WHERE ${mine} GROUP BY channel ORDER BY channel)) AS channels, ` +
      "(SELECT groupArray((name, source, identified, latest, first)) FROM (SELECT kv.1 AS name, toString(source) AS source, toUInt8(user_id != '') AS identified, " +
      "argMax((kv.2, toString(timestamp), message_id), (timestamp, message_id)) AS latest, toString(min(timestamp)) AS first " +
      `FROM event_rows ARRAY JOIN JSONExtractKeysAndValuesRaw(traits) AS kv WHERE ${mine} AND traits != '{}' ` +
      "AND kv.2 NOT IN ('null', '\"\"') GROUP BY name, source, identified)) AS statements, " +
      `${MERGES_SQL} AS merges, ${sentimentSql(texts)} AS sentiment, ` +
      "(SELECT groupArray((message_id, toString(ms), toString(timestamp), channel, source, type, event)) FROM (SELECT message_id, " +
      "toUnixTimestamp64Milli(timestamp) AS ms, timestamp, toString(channel) AS channel, toString(source) AS source, toString(type) AS type, event " +
      `FROM event_rows WHERE ${mine} ORDER BY timestamp DESC, message_id DESC LIMIT 1 BY message_id LIMIT {limit:UInt32})) AS events${selectColumns(also)}`,
    { params: mergedParams(textParams, params, also?.params ?? {}, { limit: Math.max(1, Math.trunc(limit)) + 1 }) })
  const { channels, statements, merges, sentiment, events } = rows[0]!
  return { channels, statements, merges, sentiment, events, also: alsoOf(rows[0], also) } satisfies ProfileSummary
})

/**
 * What the warehouse holds now, as a short text that changes whenever any table gets rows (each insert is a new
 * part with a higher block number), loses rows (a delete or an erasure's mutation raises the data version) or is
 * dropped: cached profile reads compare it. Read from the engine's own catalogue (no table is scanned).
 */
export const storageGeneration = Effect.fn("storageGeneration")(function* () {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ g: string }>(
    "SELECT toString(groupArray((table, b, d, n, r))) AS g FROM (SELECT table, max(max_block_number) AS b, max(data_version) AS d, " +
      "count() AS n, sum(rows) AS r FROM system.parts WHERE active AND database = currentDatabase() GROUP BY table ORDER BY table)")
  return rows[0]?.g ?? ""
})
