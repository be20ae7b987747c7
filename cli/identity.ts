// The identity commands' programs and their output: `cdp profile show`, `cdp identity explain|rebuild|suggestions`.
// JSON for scripts (the objects identity returns), small titled tables for people.
import { Data, Effect } from "effect"
import {
  BadIdentifier, DEFAULT_GRAPH_RULES, profileIdOf, type Explanation, explainIdentifiers, findSuggestions, type IdentifierRef, type IdentityConfig, parseIdentifier,
  type Operation, type ProfileSummary, type ProfileView, rebuildIdentity, recordOperation, type RebuildSummary, showProfile, type Suggestion,
} from "../identity/index.ts"
import { type DataDirLocked, Warehouse } from "../warehouse/warehouse.ts"
import { formatRows, type OutputFormat } from "./format.ts"
import { type BackendConfig, warehouseLayer } from "./layers.ts"
import { profileThroughServer, runningServer, type ServerQueryFailed } from "./server-info.ts"

const print = (text: string) => process.stdout.write(`${text}\n`)

/** A titled table, or the title with "(none)". */
const section = (title: string, rows: ReadonlyArray<Record<string, unknown>>) =>
  `${title}\n${rows.length === 0 ? "  (none)" : formatRows(rows, "table")}`

const shown = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value))

/** The identifier as identity reads it, or its BadIdentifier. */
export const identifierOf = (input: string, config: IdentityConfig): Effect.Effect<IdentifierRef, BadIdentifier> => {
  const ref = parseIdentifier(input, config.extract.normalise)
  return ref instanceof BadIdentifier ? Effect.fail(ref) : Effect.succeed(ref)
}

const refText = (ref: IdentifierRef) => (ref._tag === "profile" ? ref.profileId : `${ref.kind}:${ref.value}`)

export const renderProfile = (p: ProfileView): string => {
  const channels = Object.entries(p.channels).map(([channel, events]) => ({ channel, events }))
  const total = channels.reduce((n, c) => n + c.events, 0)
  const head = [
    `Profile ${p.profileId} (tenant ${p.tenant})`,
    `  seen        ${p.firstSeen ?? "-"} .. ${p.lastSeen ?? "-"}, ${total} events`,
    `  sentiment   ${p.latestSentiment === null ? "(none scored)" : `${p.latestSentiment.label} (${p.latestSentiment.score.toFixed(2)}) at ${p.latestSentiment.at}`}`,
  ].join("\n")
  return [
    head,
    section("Channels", channels),
    section("Identifiers", p.identifiers.map((i) => ({
      kind: i.kind, value: i.value, as_sent: i.raw, trust: i.trust, first_seen: i.firstSeen, last_seen: i.lastSeen, messages: i.messages,
    }))),
    section("Traits (latest statement wins)", Object.entries(p.traits).map(([trait, t]) => ({ trait, value: shown(t.value), source: t.source, at: t.at }))),
    section("Merges and splits", p.merges.map((m) => ({ kind: m.kind, from: m.from, to: m.to, messages: m.messages, at: m.at, reason: m.reason }))),
    section("Recent events", p.recentEvents.map((e) => ({ time: e.timestamp, channel: e.channel, type: e.type, event: e.event, message_id: e.messageId }))),
  ].join("\n\n")
}

/** `cdp profile show`: on the data dir itself, or through `cdp serve` while it holds the data dir. */
export const profileShow = (options: {
  readonly identifier: string
  readonly tenant: string
  readonly events: number
  readonly format: OutputFormat
  readonly backend: BackendConfig
  readonly config: IdentityConfig
}) =>
  Effect.gen(function* () {
    // Checked before the data dir is opened: a wrong identifier touches nothing.
    const ref = yield* identifierOf(options.identifier, options.config)
    const view = yield* showProfile(options.tenant, ref, options.events).pipe(
      Effect.scoped,
      Effect.provide(warehouseLayer(options.backend)),
      Effect.catchTag("DataDirLocked", (locked): Effect.Effect<ProfileView, DataDirLocked | ServerQueryFailed> => {
        const server = runningServer(options.backend.dataDir)
        return server === undefined ? Effect.fail(locked) : profileThroughServer(server, refText(ref), options.tenant, options.events)
      }),
    )
    print(options.format === "json" ? JSON.stringify(view, null, 2) : renderProfile(view))
  })

const linkRows = (links: ReadonlyArray<{ a: string; b: string; messageId: string; timestamp: string; rule: string; trust: string; reason: string }>, withReason = false) =>
  links.map((l, i) => ({
    step: i + 1, from: l.a, to: l.b, message_id: l.messageId, time: l.timestamp, rule: l.rule, trust: l.trust,
    ...(withReason ? { reason: l.reason } : {}),
  }))

export const renderExplanation = (a: string, b: string, e: Explanation): string => {
  if (e.joined) {
    return e.chain.length === 0
      ? `${a} and ${b} are one person (profile ${e.profileId}): the same identifier, or a profile and its own identifier`
      : `${a} and ${b} are one person (profile ${e.profileId}), joined by ${e.chain.length} link(s):\n${formatRows(linkRows(e.chain), "table")}`
  }
  return [
    `${a} and ${b} are two profiles (${e.profiles[0]} and ${e.profiles[1]}): ${e.why}`,
    ...(e.refused.length === 0 ? [] : [section("Refused links", linkRows(e.refused, true))]),
    ...(e.shared.length === 0 ? [] : [section("Shared values (they link nobody)", e.shared)]),
  ].join("\n\n")
}

export const identityExplain = (options: {
  readonly first: string
  readonly second: string
  readonly tenant: string
  readonly format: OutputFormat
  readonly backend: BackendConfig
  readonly config: IdentityConfig
}) =>
  Effect.gen(function* () {
    const a = yield* identifierOf(options.first, options.config)
    const b = yield* identifierOf(options.second, options.config)
    const explanation = yield* explainIdentifiers(options.tenant, a, b).pipe(Effect.scoped, Effect.provide(warehouseLayer(options.backend)))
    print(options.format === "json" ? JSON.stringify(explanation, null, 2) : renderExplanation(refText(a), refText(b), explanation))
  })

export const renderRebuild = (summary: { readonly tenants: ReadonlyArray<RebuildSummary>; readonly seconds: number }): string =>
  summary.tenants.length === 0
    ? "nothing to rebuild: no stored identity observations"
    : `${formatRows(summary.tenants.map((t) => ({
      tenant: t.tenant, messages: t.messages, profiles_before: t.profilesBefore, profiles_after: t.profilesAfter, moved: t.moved,
      seconds: Number(t.seconds.toFixed(2)),
    })), "table")}\nrebuilt in ${summary.seconds.toFixed(1)}s`

export const identityRebuild = (options: { readonly tenant: string | undefined; readonly format: OutputFormat; readonly config: IdentityConfig }) =>
  Effect.gen(function* () {
    const summary = yield* rebuildIdentity(options.config, options.tenant)
    print(options.format === "json" ? JSON.stringify(summary, null, 2) : renderRebuild(summary))
  })

/**
 * What duplicate suggestions compare, per profile of a tenant: the names its messages' traits state (name, or
 * first_name and last_name), and the e-mail addresses and phone numbers its messages were seen with.
 */
export const profileSummaries = (tenant: string) =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    const params = { tenant }
    const names = yield* warehouse.query<{ profile_id: string; names: Array<string> }>(
      "SELECT profile_id, groupUniqArrayIf(name, name != '') AS names FROM (SELECT profile_id, " +
        "if(JSONExtractString(traits, 'name') != '', trim(JSONExtractString(traits, 'name')), " +
        "trim(concat(JSONExtractString(traits, 'first_name'), ' ', JSONExtractString(traits, 'last_name')))) AS name " +
        "FROM events WHERE tenant = {tenant:String} AND traits != '{}') GROUP BY profile_id HAVING length(names) > 0",
      { params })
    if (names.length === 0) return []
    const contacts = yield* warehouse.query<{ profile_id: string; emails: Array<string>; phones: Array<string> }>(
      "SELECT e.profile_id AS profile_id, groupUniqArrayIf(s.value, s.kind = 'email') AS emails, " +
        "groupUniqArrayIf(s.value, s.kind = 'phone') AS phones FROM identity_observations AS o ARRAY JOIN o.sightings AS s " +
        "INNER JOIN (SELECT message_id, profile_id FROM events WHERE tenant = {tenant:String}) AS e ON e.message_id = o.message_id " +
        "WHERE o.tenant = {tenant:String} AND s.kind IN ('email', 'phone') GROUP BY profile_id",
      { params })
    const byProfile = new Map(contacts.map((c) => [c.profile_id, c]))
    return names.map((n): ProfileSummary => ({
      profileId: n.profile_id, names: n.names,
      emails: byProfile.get(n.profile_id)?.emails ?? [], phones: byProfile.get(n.profile_id)?.phones ?? [],
    }))
  })

export const renderSuggestions = (suggestions: ReadonlyArray<Suggestion>): string =>
  suggestions.length === 0
    ? "no probable duplicates"
    : [
      section("Probable duplicates (accept or dismiss each by its id)", suggestions.map((s) => ({ id: s.id, score: s.score, profile_a: s.a, profile_b: s.b }))),
      section("Evidence", suggestions.flatMap((s) => s.evidence.map((e) => ({ id: s.id, field: e.field, a: e.a, b: e.b, similarity: Number(e.similarity.toFixed(3)) })))),
    ].join("\n\n")

export const identitySuggestions = (options: { readonly tenant: string; readonly format: OutputFormat; readonly limit: number }) =>
  Effect.gen(function* () {
    const suggestions = (yield* openSuggestions(options.tenant)).slice(0, options.limit)
    const text = options.format === "json" ? suggestions.map((s) => JSON.stringify(s)).join("\n") : renderSuggestions(suggestions)
    if (text !== "") print(text)
  })

/** Suggestions an operator dismissed (they are not shown again). */
const dismissed = (tenant: string) =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    const rows = yield* warehouse.query<{ a: string }>(
      "SELECT a FROM identity_operations WHERE tenant = {tenant:String} AND kind = 'dismiss'", { params: { tenant } })
    return new Set(rows.map((r) => r.a))
  })

/** Open suggestions of a tenant: found now, not dismissed. */
export const openSuggestions = (tenant: string) =>
  Effect.gen(function* () {
    const gone = yield* dismissed(tenant)
    return findSuggestions(yield* profileSummaries(tenant)).filter((s) => !gone.has(s.id))
  })

export class UnknownSuggestion extends Data.TaggedError("UnknownSuggestion")<{ readonly id: string; readonly tenant: string }> {
  override get message() {
    return `no open suggestion ${this.id} in tenant "${this.tenant}" (list them with cdp identity suggestions)`
  }
}

/** The identifier a profile is best known by (a user id, else an e-mail, ...), to link or separate it. */
const representative = (tenant: string, profileId: string) =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    const rows = yield* warehouse.query<{ kind: string; value: string }>(
      "SELECT kind, value FROM identity_nodes WHERE tenant = {tenant:String} AND slice = 0 AND shared = '' " +
        "GROUP BY kind, value HAVING argMax(profile_id, version) = {profile:String} " +
        "ORDER BY indexOf({priority:Array(String)}, kind) = 0, indexOf({priority:Array(String)}, kind), value LIMIT 1",
      { params: { tenant, profile: profileId, priority: DEFAULT_GRAPH_RULES.priority } })
    const row = rows[0]
    return row === undefined ? undefined : `${row.kind}:${row.value}`
  })

/** Records an operator's decision, applies it with a rebuild of the tenant, and prints what moved. */
const decide = (tenant: string, operation: Omit<Operation, "tenant">, format: OutputFormat, config: IdentityConfig) =>
  Effect.gen(function* () {
    const recorded = yield* recordOperation({ tenant, ...operation })
    const summary = yield* rebuildIdentity(config, tenant)
    if (format === "json") print(JSON.stringify({ operation: recorded, rebuild: summary }))
    else print(`recorded ${recorded.kind} ${[recorded.a, recorded.b].filter((x) => x !== "").join(" / ")} (${recorded.opId})\n${renderRebuild(summary)}`)
  })

/** The node of an identifier some profile of the tenant holds: a decision about an unknown value is a typo. */
const nodeOf = (tenant: string, ref: IdentifierRef, input: string) =>
  ref._tag === "identifier"
    ? Effect.as(profileIdOf(tenant, ref), `${ref.kind}:${ref.value}`)
    : Effect.fail(new BadIdentifier({ input, reason: "name an identifier (KIND:VALUE), not a profile id" }))

/** `cdp identity split IDENTIFIER`: the identifier stops linking; what only it joined splits off. */
export const identitySplit = (options: { readonly identifier: string; readonly tenant: string; readonly reason: string; readonly format: OutputFormat; readonly config: IdentityConfig }) =>
  Effect.gen(function* () {
    const node = yield* nodeOf(options.tenant, yield* identifierOf(options.identifier, options.config), options.identifier)
    yield* decide(options.tenant, { kind: "remove", a: node, b: "", reason: options.reason }, options.format, options.config)
  })

/** `cdp identity separate A B`: two identifiers are different people; the merge that joined them is reverted. */
export const identitySeparate = (options: { readonly first: string; readonly second: string; readonly tenant: string; readonly reason: string; readonly format: OutputFormat; readonly config: IdentityConfig }) =>
  Effect.gen(function* () {
    const a = yield* nodeOf(options.tenant, yield* identifierOf(options.first, options.config), options.first)
    const b = yield* nodeOf(options.tenant, yield* identifierOf(options.second, options.config), options.second)
    yield* decide(options.tenant, { kind: "separate", a, b, reason: options.reason }, options.format, options.config)
  })

/** `cdp identity suggestions --accept ID | --dismiss ID`. */
export const identitySuggestionDecision = (options: { readonly id: string; readonly accept: boolean; readonly tenant: string; readonly reason: string; readonly format: OutputFormat; readonly config: IdentityConfig }) =>
  Effect.gen(function* () {
    const suggestion = (yield* openSuggestions(options.tenant)).find((s) => s.id === options.id)
    if (suggestion === undefined) return yield* Effect.fail(new UnknownSuggestion({ id: options.id, tenant: options.tenant }))
    if (!options.accept) {
      const recorded = yield* recordOperation({ tenant: options.tenant, kind: "dismiss", a: suggestion.id, b: "", reason: options.reason })
      print(options.format === "json" ? JSON.stringify({ operation: recorded }) : `dismissed ${suggestion.id} (${recorded.opId}); it will not be suggested again`)
      return
    }
    const a = yield* representative(options.tenant, suggestion.a)
    const b = yield* representative(options.tenant, suggestion.b)
    if (a === undefined || b === undefined) return yield* Effect.fail(new UnknownSuggestion({ id: options.id, tenant: options.tenant }))
    const evidence = suggestion.evidence.map((e) => `${e.field} ${e.a} ~ ${e.b} (${e.similarity.toFixed(2)})`).join("; ")
    yield* decide(options.tenant, { kind: "link", a, b, reason: `suggestion ${suggestion.id} accepted: ${options.reason || evidence}` }, options.format, options.config)
  })
