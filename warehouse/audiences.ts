// The audience tables' one owner (migration 055: audience_versions, audience_members, audience_changes) and the
// SQL an audience condition compiles to: ONE query over the profiles with events (event_rows with each message's
// current profile, which also gives counts in windows and channels), joined to only the stores its leaves need
// (profile_traits, the latest run in relation_scores, sentiment), with every value a ClickHouse parameter. Each leaf
// of the condition gets two columns, whether it matched (__m<i>) and the value it saw (__v<i>), which is how a
// member's "why" is told.
import { Effect } from "effect"
import type { Bound, EventCondition, LeafNode, Node, Op, RelationshipCondition, SentimentCondition, TraitCondition, ChannelCondition } from "../identity/audiences/condition.ts"
import { allowedSql, type ConsentFilter, renamedFilter } from "./consent-filter.ts"
import { currentProfileSql, mayHoldNowInSql } from "./current-profile.ts"
import { chDateTime } from "./sink.ts"
import { interactiveTurn, type Row, Warehouse } from "./warehouse.ts"

/** The consent filters an audience embeds (consent/'s consentingProfilesSql). */
export type { ConsentFilter }

// Operators come from the schema's enum; the SQL text is taken from this table, never from the input.
const OPS: Readonly<Record<Op, string>> = { "=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=" }
const op = (o: Op): string => {
  const sql = OPS[o]
  if (sql === undefined) throw new Error(`unknown operator ${JSON.stringify(o)}`)
  return sql
}

export interface AudienceSqlInput {
  readonly tenant: string
  readonly condition: Node
  /** The profiles the audience's purpose may use. */
  readonly purpose: ConsentFilter
  /** Per consent leaf (by leaf index), the profiles its purpose may use. */
  readonly consentLeaves: ReadonlyMap<number, ConsentFilter>
  /** The time windows end at (ms since the epoch). */
  readonly asOfMs: number
}

/** What the compiled query returns: per row the profile and, per leaf, whether it matched and the value seen. */
export type Mode =
  | { readonly kind: "members" }
  | { readonly kind: "sample"; readonly limit: number }
  | { readonly kind: "explain"; readonly profiles: ReadonlyArray<string> }

type Params = Record<string, unknown>

const AS_OF = "{a_as_of:DateTime64(3, 'UTC')}"

/** What compiling the leaves collects: parameters, and the columns the events and sentiment parts must compute. */
interface Compiling {
  readonly input: AudienceSqlInput
  readonly params: Params
  /** Counts over the profile's events (event and channel leaves), computed in the events part. */
  readonly eventCols: Array<string>
  /** Aggregates over the profile's scored texts (sentiment leaves), computed in the sentiment part. */
  readonly sentimentCols: Set<string>
  /** Per leaf, whether it matched (__m<i>) and the value it saw (__v<i>). */
  readonly leafCols: Array<string>
}

type LeafSql = { readonly matched: string; readonly value: string }

/** The kinds of leaf in a condition: each kind reads its own store, and only the stores needed are joined. */
const leafKinds = (condition: Node): ReadonlySet<string> => {
  const kinds = new Set<string>()
  const visit = (n: Node): void => {
    if ("items" in n) n.items.forEach(visit)
    else if ("item" in n) visit(n.item)
    else kinds.add(n.kind)
  }
  visit(condition)
  return kinds
}

/** `column` inside the leaf's window ending at the evaluation time (no window: anything up to it). */
const windowed = (c: Compiling, i: number, days: number | undefined, column = "timestamp") => {
  if (days === undefined) return `${column} <= ${AS_OF}`
  c.params[`l${i}_days`] = days
  return `${column} <= ${AS_OF} AND ${column} > ${AS_OF} - toIntervalDay({l${i}_days:UInt32})`
}

/**
 * A number for a Float64 parameter. One past 2^53 (1e300 is a whole number to JavaScript) is given as its exact
 * digits, which the engine reads as the same double: chDB's binding refuses such a number, and a statement too long to
 * be written with literals (warehouse/inline-params.ts) is bound.
 */
const float64 = (v: number): number | bigint => (Number.isInteger(v) && !Number.isSafeInteger(v) ? BigInt(v) : v)

// A trait's value as a number: a JSON number, or a string holding one ("30").
const traitNumber = (raw: string) => `coalesce(toFloat64OrNull(${raw}), toFloat64OrNull(JSONExtractString(${raw})))`

/** A trait leaf, over the profile's traits (JSON text per name) from profile_traits. */
const traitLeaf = (c: Compiling, i: number, t: TraitCondition): LeafSql => {
  c.params[`l${i}_trait`] = t.trait
  const raw = `tr.traits[{l${i}_trait:String}]`
  const value = `if(mapContains(tr.traits, {l${i}_trait:String}), ${raw}, '')`
  if (t.exists !== undefined) return { matched: `${t.exists ? "" : "NOT "}mapContains(tr.traits, {l${i}_trait:String})`, value }
  if (t.compare !== undefined) {
    c.params[`l${i}_value`] = float64(t.value!)
    return { matched: `${traitNumber(raw)} ${op(t.compare)} {l${i}_value:Float64}`, value }
  }
  if (t.in !== undefined) {
    c.params[`l${i}_strings`] = t.in.filter((v): v is string => typeof v === "string")
    c.params[`l${i}_numbers`] = t.in.filter((v): v is number => typeof v === "number").map(float64)
    return {
      matched: `(JSONExtractString(${raw}) IN {l${i}_strings:Array(String)} AND startsWith(${raw}, '"')) OR ` +
        `has({l${i}_numbers:Array(Float64)}, ${traitNumber(raw)})`,
      value,
    }
  }
  const e = t.equals!
  if (typeof e === "number") {
    c.params[`l${i}_value`] = float64(e)
    return { matched: `${traitNumber(raw)} = {l${i}_value:Float64}`, value }
  }
  if (typeof e === "boolean") {
    c.params[`l${i}_value`] = e ? "true" : "false"
    return { matched: `${raw} = {l${i}_value:String}`, value }
  }
  c.params[`l${i}_value`] = e
  return { matched: `startsWith(${raw}, '"') AND JSONExtractString(${raw}) = {l${i}_value:String}`, value }
}

/** An event or channel leaf: a count the events part computes (__e<i>), compared here. */
const countLeaf = (c: Compiling, i: number, leaf: EventCondition | ChannelCondition, kind: "event" | "channel"): LeafSql => {
  if (kind === "channel") {
    const ch = leaf as ChannelCondition
    c.params[`l${i}_channel`] = ch.channel
    c.eventCols.push(`countIf(channel = {l${i}_channel:String} AND ${windowed(c, i, ch.withinDays)}) AS __e${i}`)
    return { matched: `p.__e${i} > 0`, value: `toString(p.__e${i})` }
  }
  const e = leaf as EventCondition
  c.params[`l${i}_event`] = e.event
  const channel = e.channel === undefined ? "" : (c.params[`l${i}_channel`] = e.channel, ` AND channel = {l${i}_channel:String}`)
  c.eventCols.push(`countIf(event = {l${i}_event:String}${channel} AND ${windowed(c, i, e.withinDays)}) AS __e${i}`)
  const count = e.count ?? { op: ">=", value: 1 }
  c.params[`l${i}_count`] = count.value
  return { matched: `p.__e${i} ${op(count.op)} {l${i}_count:UInt64}`, value: `toString(p.__e${i})` }
}

/** A sentiment leaf: the latest score or an average in a window, aggregated by the sentiment part (sa). */
const sentimentLeaf = (c: Compiling, i: number, s: SentimentCondition["sentiment"]): LeafSql => {
  c.params[`l${i}_value`] = float64(s.value)
  if (s.of === "latest") {
    c.sentimentCols.add("argMax(st.score, st.timestamp) AS latest, count() AS scored")
    return { matched: `sa.scored > 0 AND sa.latest ${op(s.op)} {l${i}_value:Float64}`, value: "if(sa.scored > 0, toString(round(sa.latest, 3)), '')" }
  }
  const inWindow = windowed(c, i, s.withinDays, "st.timestamp")
  c.sentimentCols.add(`avgIf(st.score, ${inWindow}) AS __s${i}`).add(`countIf(${inWindow}) AS __n${i}`)
  return { matched: `sa.__n${i} > 0 AND sa.__s${i} ${op(s.op)} {l${i}_value:Float64}`, value: `if(sa.__n${i} > 0, toString(round(sa.__s${i}, 3)), '')` }
}

/** One leaf's SQL: whether it matched, and the value it saw. */
const leafSql = (c: Compiling, n: LeafNode): LeafSql => {
  const i = n.index
  switch (n.kind) {
    case "trait":
      return traitLeaf(c, i, n.leaf as TraitCondition)
    case "event":
    case "channel":
      return countLeaf(c, i, n.leaf as EventCondition | ChannelCondition, n.kind)
    case "consent": {
      const filter = renamedFilter(c.input.consentLeaves.get(i)!, `l${i}_`)
      Object.assign(c.params, filter.params)
      return { matched: allowedSql("p.profile_id", filter), value: `''` }
    }
    case "relationship":
      c.params[`l${i}_types`] = (n.leaf as RelationshipCondition).relationship.in
      return { matched: `rel.relationship_type IN {l${i}_types:Array(String)}`, value: "toString(rel.relationship_type)" }
    case "health":
    case "churnRisk": {
      const b = (n.leaf as unknown as Record<string, Bound>)[n.kind]!
      const column = n.kind === "health" ? "rel.health_score" : "rel.churn_risk"
      c.params[`l${i}_value`] = float64(b.value)
      return { matched: `${column} ${op(b.op)} {l${i}_value:Float64}`, value: `toString(round(${column}, 3))` }
    }
    case "sentiment":
      return sentimentLeaf(c, i, (n.leaf as SentimentCondition).sentiment)
  }
}

/** The condition as a boolean over the leaf columns, adding each leaf's two columns to `leafCols`. */
const conditionSql = (c: Compiling, n: Node): string => {
  if ("items" in n) return `(${n.items.map((item) => conditionSql(c, item)).join(n.kind === "and" ? " AND " : " OR ")})`
  if ("item" in n) return `(NOT ${conditionSql(c, n.item)})`
  const { matched, value } = leafSql(c, n)
  // A missing value (no relationship computed, no sentiment scored) is "not matched", never NULL.
  c.leafCols.push(`toUInt8(ifNull((${matched}), 0)) AS __m${n.index}`, `ifNull(${value}, '') AS __v${n.index}`)
  return `__m${n.index}`
}

// Each kind of leaf reads only its own store, joined to the profiles with events (one GROUP BY scan of the tenant's
// events, which also counts the event and channel leaves): traits from profile_traits, relationship, health and
// churn risk from the tenant's latest relations run in relation_scores (its order key's (tenant, as_of) range),
// sentiment from the tenant's scored texts in sentiment (its (tenant, message_id) range). None reads the profiles
// view, which computes every profile column (identifiers, channel counts, ...) whatever the condition reads.
// Explaining a few profiles (why they left, or the profiles a write touched) reads their messages and rows only.

/**
 * The explained profiles' ids, named once in the statement's WITH (statementFor) and read by every store's part: in
 * each part they made a statement explaining 1,000 profiles over 200 kB, too long to write in (inline-params.ts), so
 * it was bound and took chDB's process-wide turn.
 */
const EXPLAINED = "a_explained"

/** The profiles with events (p), each with its current profile id and the event counts the leaves need. */
const eventsPart = (c: Compiling, explaining: boolean): string => {
  const events = currentProfileSql(c.input.tenant, "e")
  Object.assign(c.params, events.params)
  const narrow = explaining ? ` AND ${mayHoldNowInSql(EXPLAINED)}` : ""
  return `(SELECT ${events.profileId} AS profile_id${c.eventCols.map((col) => `, ${col}`).join("")} FROM ` +
    `(SELECT message_id, profile_id, event, channel, timestamp FROM event_rows WHERE tenant = {a_tenant:String}${narrow}) AS e ` +
    `${events.join} ${explaining ? `WHERE profile_id IN ${EXPLAINED} ` : ""}GROUP BY profile_id) AS p`
}

/**
 * The profiles' traits (tr), from profile_traits, which drops a statement whose value identity refused to the profile
 * as a claim (migration 086: u10's traits.email naming the address u11 holds): a condition on e-mail selects its
 * holder, never the profile that only stated it.
 */
const traitsJoin = (onlyProfiles: string): string =>
  `LEFT JOIN (SELECT profile_id, traits FROM profile_traits WHERE tenant = {a_tenant:String}${onlyProfiles}) AS tr ON tr.profile_id = p.profile_id`

/** The latest relations run's scores (rel), as the profiles view shows them: NULL, never a default 0, for a profile it did not score. */
const relationsJoin = (onlyProfiles: string): string =>
  "LEFT JOIN (SELECT profile_id, if(relationship_type = '', NULL, relationship_type) AS relationship_type, " +
  "if(relationship_type = '', NULL, health_score) AS health_score, if(relationship_type = '', NULL, churn_risk) AS churn_risk " +
  "FROM relation_scores FINAL WHERE tenant = {a_tenant:String}" + onlyProfiles + " AND (as_of, computed_at) IN " +
  "(SELECT argMax(as_of, computed_at), max(computed_at) FROM relation_runs WHERE tenant = {a_tenant:String})) AS rel ON rel.profile_id = p.profile_id"

/** The profiles' scored texts (sa), each counted for the profile its message belongs to now. */
const sentimentJoin = (c: Compiling, explaining: boolean): string => {
  const texts = currentProfileSql(c.input.tenant, "st")
  const narrow = explaining ? ` AND ${mayHoldNowInSql(EXPLAINED)}` : ""
  return `LEFT JOIN (SELECT ${texts.profileId} AS profile_id, ${[...c.sentimentCols].join(", ")} FROM ` +
    "(SELECT message_id, profile_id, score, timestamp FROM sentiment FINAL WHERE tenant = {a_tenant:String} AND status = 'scored'" +
    `${narrow}) AS st ${texts.join} GROUP BY profile_id) AS sa ON sa.profile_id = p.profile_id`
}

/** FROM: the profiles with events joined to the stores the leaves need. */
const fromSql = (c: Compiling, kinds: ReadonlySet<string>, explaining: boolean): string => {
  const onlyProfiles = explaining ? ` AND profile_id IN ${EXPLAINED}` : ""
  return [
    eventsPart(c, explaining),
    ...(kinds.has("trait") ? [traitsJoin(onlyProfiles)] : []),
    ...(kinds.has("relationship") || kinds.has("health") || kinds.has("churnRisk") ? [relationsJoin(onlyProfiles)] : []),
    ...(c.sentimentCols.size === 0 ? [] : [sentimentJoin(c, explaining)]),
  ].join(" ")
}

/** The statement for a mode: every row of the explained profiles, or the members (all, or a sample with the total). */
const statementFor = (mode: Mode, columns: ReadonlyArray<string>, from: string, params: Params): { sql: string; params: Params } => {
  if (mode.kind === "explain") {
    params["a_profiles"] = mode.profiles
    return { sql: `WITH {a_profiles:Array(String)} AS ${EXPLAINED} SELECT ${columns.join(", ")} FROM ${from}`, params }
  }
  const where = "WHERE consenting = 1 AND matched = 1"
  if (mode.kind === "sample") {
    params["a_limit"] = mode.limit
    return {
      sql: `SELECT ${columns.join(", ")}, count() OVER () AS total FROM ${from} ${where} ORDER BY cityHash64(profile_id), profile_id LIMIT {a_limit:UInt32}`,
      params,
    }
  }
  return { sql: `SELECT ${columns.join(", ")} FROM ${from} ${where} ORDER BY profile_id`, params }
}

/** The one query of an audience, with its parameters. */
export const audienceSql = (input: AudienceSqlInput, mode: Mode): { sql: string; params: Params } => {
  const c: Compiling = {
    input, params: { a_tenant: input.tenant, a_as_of: chDateTime(new Date(input.asOfMs).toISOString()) },
    eventCols: [], sentimentCols: new Set(), leafCols: [],
  }
  // The leaves first: they say which columns the events and sentiment parts compute.
  const matched = conditionSql(c, input.condition)
  const purpose = renamedFilter(input.purpose, "p_")
  Object.assign(c.params, purpose.params)
  const from = fromSql(c, leafKinds(input.condition), mode.kind === "explain")
  const columns = ["p.profile_id AS profile_id", `toUInt8(${allowedSql("p.profile_id", purpose)}) AS consenting`, `toUInt8(${matched}) AS matched`, ...c.leafCols]
  return statementFor(mode, columns, from, c.params)
}

export type AudienceRow = Row & { profile_id: string; consenting: number; matched: number; total?: string }

/**
 * How long a preview (what a marketer waits for) may run before the engine stops it: the embedded engine runs one
 * statement at a time, so an unbounded preview would hold every tenant's ingestion and reads. Membership and the
 * explanations of entries and exits (background refresh, saving) are not bounded.
 */
export const AUDIENCE_PREVIEW_SECONDS = 30

/**
 * Runs an audience's query; a preview (sample) within `previewSeconds` (WarehouseQueryError code 159 past it), in its
 * tenant's preview turn. Members and explanations are the refresher's: they take no preview's turn (a refresh holding
 * it made a marketer's preview 429, and a marketer's preview made the refresh fail).
 */
export const runAudienceQuery = Effect.fn("runAudienceQuery")(function* (input: AudienceSqlInput, mode: Mode, previewSeconds = AUDIENCE_PREVIEW_SECONDS) {
  const warehouse = yield* Warehouse
  const q = audienceSql(input, mode)
  if (mode.kind !== "sample") return yield* warehouse.query<AudienceRow>(q.sql, { params: q.params })
  return yield* interactiveTurn(input.tenant)(warehouse.query<AudienceRow>(q.sql, { params: q.params, maxExecutionSeconds: previewSeconds }))
})

// ---- audience_versions

export interface VersionRow {
  readonly tenant: string
  readonly audience_id: string
  readonly version: number
  readonly name: string
  readonly purpose: string
  readonly condition: string
  readonly deleted: number
  readonly actor: string
  readonly note: string
  readonly at: string
}

const VERSION_COLUMNS = "tenant, audience_id, toUInt32(version) AS version, name, toString(purpose) AS purpose, condition, deleted, actor, note, " +
  "toString(toUnixTimestamp64Milli(at)) AS at"

export const insertAudienceVersion = Effect.fn("insertAudienceVersion")(function* (row: Omit<VersionRow, "at"> & { readonly atMs: number }) {
  const warehouse = yield* Warehouse
  const { atMs, ...rest } = row
  yield* warehouse.insert("audience_versions", [{ ...rest, at: chDateTime(new Date(atMs).toISOString()) }])
})

/** The versions of one audience, oldest first: from version `from` on, at most `limit` of them (every one without). */
export const audienceVersions = Effect.fn("audienceVersions")(function* (tenant: string, audienceId: string, from = 1, limit?: number) {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<VersionRow>(
    `SELECT ${VERSION_COLUMNS} FROM audience_versions WHERE tenant = {tenant:String} AND audience_id = {id:String} AND version >= {from:UInt64} ` +
      `ORDER BY version${limit === undefined ? "" : " LIMIT {limit:UInt32}"}`,
    { params: { tenant, id: audienceId, from, ...(limit === undefined ? {} : { limit }) } })
})

/**
 * A page of a tenant's audiences (deleted ones left out) by id, after `after`: at most `limit`. By id, not name, so a
 * rename between two pages neither skips nor repeats an audience (the order key's prefix: read in key order).
 */
export const audienceVersionsPage = Effect.fn("audienceVersionsPage")(function* (tenant: string, after: string, limit: number) {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<VersionRow>(
    `SELECT ${VERSION_COLUMNS} FROM audience_versions WHERE tenant = {tenant:String} AND audience_id > {after:String} AND (audience_id, version) IN ` +
      "(SELECT audience_id, max(version) FROM audience_versions WHERE tenant = {tenant:String} AND audience_id > {after:String} GROUP BY audience_id) " +
      "AND deleted = 0 ORDER BY audience_id LIMIT {limit:UInt32}",
    { params: { tenant, after, limit } })
})

/** The latest version of every audience (of one tenant, or of all when tenant is undefined), deleted ones included. */
export const latestAudienceVersions = Effect.fn("latestAudienceVersions")(function* (tenant: string | undefined) {
  const warehouse = yield* Warehouse
  return yield* warehouse.query<VersionRow>(
    `SELECT ${VERSION_COLUMNS} FROM audience_versions WHERE (tenant, audience_id, version) IN ` +
      "(SELECT tenant, audience_id, max(version) FROM audience_versions WHERE {all:Bool} OR tenant = {tenant:String} GROUP BY tenant, audience_id) " +
      "ORDER BY tenant, name, audience_id",
    { params: { tenant: tenant ?? "", all: tenant === undefined } })
})

// ---- audience_members and audience_changes

export interface MemberRow {
  readonly profile_id: string
  readonly since: string
  readonly why: string
  readonly seq: string
}

/** The audience's members now, by profile id. */
export const storedMembers = Effect.fn("storedMembers")(function* (tenant: string, audienceId: string, page?: { readonly after: string; readonly limit: number }) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ profile_id: string; since_ms: string; why: string; seq_text: string }>(
    "SELECT profile_id, toString(toUnixTimestamp64Milli(since)) AS since_ms, why, toString(seq) AS seq_text FROM audience_members FINAL " +
      "WHERE tenant = {tenant:String} AND audience_id = {id:String} AND member = 1" +
      (page === undefined ? "" : " AND profile_id > {after:String}") + " ORDER BY profile_id" + (page === undefined ? "" : " LIMIT {limit:UInt32}"),
    { params: { tenant, id: audienceId, ...(page === undefined ? {} : { after: page.after, limit: page.limit }) } })
  return rows.map((r): MemberRow => ({ profile_id: r.profile_id, since: r.since_ms, why: r.why, seq: r.seq_text }))
})

/** Which of these profiles are members of the audience now (audience_members' order key: tenant, audience, profile). */
export const storedMembersOf = Effect.fn("storedMembersOf")(function* (tenant: string, audienceId: string, profiles: ReadonlyArray<string>) {
  if (profiles.length === 0) return []
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ profile_id: string; since_ms: string; why: string; seq_text: string }>(
    "SELECT profile_id, toString(toUnixTimestamp64Milli(since)) AS since_ms, why, toString(seq) AS seq_text FROM audience_members FINAL " +
      "WHERE tenant = {tenant:String} AND audience_id = {id:String} AND profile_id IN {profiles:Array(String)} AND member = 1",
    { params: { tenant, id: audienceId, profiles } })
  return rows.map((r): MemberRow => ({ profile_id: r.profile_id, since: r.since_ms, why: r.why, seq: r.seq_text }))
})

/** Members per audience of a tenant (of these audiences only, when given: a page of them). */
export const memberCounts = Effect.fn("memberCounts")(function* (tenant: string | undefined, audienceIds?: ReadonlyArray<string>) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ tenant: string; audience_id: string; members: string }>(
    "SELECT tenant, audience_id, countIf(member = 1) AS members FROM audience_members FINAL WHERE ({all:Bool} OR tenant = {tenant:String})" +
      (audienceIds === undefined ? "" : " AND audience_id IN {ids:Array(String)}") + " GROUP BY tenant, audience_id",
    { params: { tenant: tenant ?? "", all: tenant === undefined, ...(audienceIds === undefined ? {} : { ids: audienceIds }) } })
  return new Map(rows.map((r) => [`${r.tenant}\u0000${r.audience_id}`, Number(r.members)]))
})

/** The highest change number of an audience (0 before its first change). */
export const lastChangeSeq = Effect.fn("lastChangeSeq")(function* (tenant: string, audienceId: string) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{ seq: string }>(
    "SELECT toString(max(seq)) AS last_seq FROM audience_changes WHERE tenant = {tenant:String} AND audience_id = {id:String}",
    { params: { tenant, id: audienceId } })
  return BigInt((rows[0] as { last_seq?: string } | undefined)?.last_seq ?? "0")
})

export interface ChangeRow {
  readonly tenant: string
  readonly audience_id: string
  readonly profile_id: string
  readonly change: "entered" | "exited"
  readonly at: string
  readonly cause: string
  readonly seq: string
}

/**
 * Stores changes and the membership they make, changes first: a crash between the two leaves the membership as it
 * was, so the next refresh finds the same differences again (and records them again, as later changes).
 */
export const storeChanges = Effect.fn("storeChanges")(function* (
  changes: ReadonlyArray<Omit<ChangeRow, "at"> & { readonly atMs: number; readonly why: string }>,
) {
  if (changes.length === 0) return
  const warehouse = yield* Warehouse
  yield* warehouse.insert("audience_changes", changes.map((c): Row => ({
    tenant: c.tenant, audience_id: c.audience_id, profile_id: c.profile_id, change: c.change, at: chDateTime(new Date(c.atMs).toISOString()),
    cause: c.cause, seq: c.seq,
  })))
  yield* warehouse.insert("audience_members", changes.map((c): Row => ({
    tenant: c.tenant, audience_id: c.audience_id, profile_id: c.profile_id, member: c.change === "entered" ? 1 : 0,
    since: chDateTime(new Date(c.atMs).toISOString()), why: c.why, seq: c.seq,
  })))
})

/** Changes of an audience after a change number, in order, at most `limit`. */
export const changesAfter = Effect.fn("changesAfter")(function* (tenant: string, audienceId: string, afterSeq: bigint, limit: number) {
  const warehouse = yield* Warehouse
  const rows = yield* warehouse.query<{
    tenant: string; audience_id: string; profile_id: string; change_text: "entered" | "exited"; at_ms: string; cause: string; seq_text: string
  }>(
    "SELECT tenant, audience_id, profile_id, toString(change) AS change_text, toString(toUnixTimestamp64Milli(at)) AS at_ms, cause, toString(seq) AS seq_text " +
      "FROM audience_changes WHERE tenant = {tenant:String} AND audience_id = {id:String} AND seq > {after:UInt64} ORDER BY seq LIMIT {limit:UInt32}",
    { params: { tenant, id: audienceId, after: afterSeq, limit } })
  return rows.map((r): ChangeRow => ({
    tenant: r.tenant, audience_id: r.audience_id, profile_id: r.profile_id, change: r.change_text, at: r.at_ms, cause: r.cause, seq: r.seq_text,
  }))
})
