// The identity commands' programs and their output: `cdp profile show`, `cdp identity explain|rebuild|suggestions`.
// JSON for scripts (the objects identity returns), small titled tables for people.
import { Effect } from "effect"
import {
  BadReason, checkReason, type DecisionResult, decideSuggestion, type Explanation, explainIdentifiers, type IdentifierRef, type IdentityConfig, openSuggestions,
  type ProfileView, readIdentifier, rebuildIdentity, type RebuildSummary, separateIdentifiers, splitIdentifier, type Suggestion,
  type TraitPrecedence,
} from "../identity/index.ts"
import { type ConsentPolicies, ConsentPoliciesRef } from "../consent/index.ts"
import { type ProfileWithConsent, readProfile } from "../ingest/profile-route.ts"
import type { DataDirLocked, Warehouse } from "../warehouse/warehouse.ts"
import { formatRows, type OutputFormat } from "./format.ts"
import { type BackendConfig, warehouseLayer } from "./layers.ts"
import { allPages, callServer, directOrServer, followOperation, profileThroughServer, type RunningServer, runningServer, ServerQueryFailed } from "./server-info.ts"
import { cliActor } from "./actor.ts"

const print = (text: string) => process.stdout.write(`${text}\n`)

/** A titled table, or the title with "(none)". */
const section = (title: string, rows: ReadonlyArray<Record<string, unknown>>) =>
  `${title}\n${rows.length === 0 ? "  (none)" : formatRows(rows, "table")}`

const shown = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value))

const refText = (ref: IdentifierRef) => (ref._tag === "profile" ? ref.profileId : `${ref.kind}:${ref.value}`)

export const renderProfile = (p: ProfileView & Partial<Pick<ProfileWithConsent, "consent" | "timeline">>): string => {
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
    section("Identifiers", p.identifiers.filter((i) => i.claimed === undefined).map((i) => ({
      kind: i.kind, value: i.value, as_sent: i.raw, trust: i.trust, first_seen: i.firstSeen, last_seen: i.lastSeen, messages: i.messages,
    }))),
    // Values its messages only claimed (another user id holds them): shown apart, never as the profile's own.
    ...(p.identifiers.some((i) => i.claimed !== undefined) ? [section("Claimed, not this profile's (identity refused them)", p.identifiers.filter((i) => i.claimed !== undefined).map((i) => ({
      kind: i.kind, value: i.value, as_sent: i.raw, messages: i.messages, reason: i.claimed,
    })))] : []),
    section("Traits (the strongest source's latest statement wins)", Object.entries(p.traits).map(([trait, t]) => ({ trait, value: shown(t.value), source: t.source, at: t.at }))),
    section("Computed traits (CDP_COMPUTED_TRAITS)", Object.entries(p.computedTraits).map(([trait, t]) => ({ trait, value: shown(t.value), kind: t.kind, events: t.events }))),
    section("Merges and splits", p.merges.map((m) => ({ kind: m.kind, from: m.from, to: m.to, messages: m.messages, at: m.at, reason: m.reason }))),
    section("Recent events", p.recentEvents.map((e) => ({ time: e.timestamp, channel: e.channel, type: e.type, event: e.event, message_id: e.messageId }))),
    ...(p.consent === undefined ? [] : [section(`Consent${p.consent.restricted ? " (processing restricted: nothing allowed)" : ""}`, p.consent.purposes.map((c) => ({
      purpose: c.purpose, state: c.state, allowed: c.allowed, basis: c.basis, since: c.since?.at ?? "-", source: c.since?.source ?? "-",
    })))]),
    ...(p.timeline?.nextCursor == null ? [] : [`Older events: cdp profile events ${p.profileId} --cursor ${p.timeline.nextCursor}`]),
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
  readonly traitPrecedence: TraitPrecedence
  readonly policies: ConsentPolicies
}) =>
  Effect.gen(function* () {
    // Checked before the data dir is opened: a wrong identifier touches nothing.
    const ref = yield* readIdentifier(options.identifier, options.tenant, options.config)
    const view = yield* readProfile(options.tenant, refText(ref), options.events, options.config, options.traitPrecedence).pipe(
      Effect.provideService(ConsentPoliciesRef, options.policies),
      Effect.scoped,
      Effect.provide(warehouseLayer(options.backend)),
      Effect.catchTag("DataDirLocked", (locked): Effect.Effect<ProfileWithConsent, DataDirLocked | ServerQueryFailed> => {
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
    const a = yield* readIdentifier(options.first, options.tenant, options.config)
    const b = yield* readIdentifier(options.second, options.tenant, options.config)
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

/**
 * `cdp identity rebuild`: on the data dir itself, or, while `cdp serve` holds it, in the server (POST
 * /v1/identity/rebuild, followed until it ends), with the server's rules and its running graph reloaded after.
 */
export const identityRebuild = (options: {
  readonly tenant: string | undefined; readonly format: OutputFormat; readonly config: IdentityConfig; readonly backend: BackendConfig
}) =>
  Effect.gen(function* () {
    const direct = rebuildIdentity(options.config, options.tenant, { reread: true }).pipe(Effect.scoped, Effect.provide(warehouseLayer(options.backend)))
    const summary = yield* directOrServer(options.backend, direct, (server) =>
      followOperation<{ tenants: Array<RebuildSummary>; seconds: number }>(server, "/v1/identity/rebuild", options.tenant === undefined ? {} : { tenant: options.tenant }))
    print(options.format === "json" ? JSON.stringify(summary, null, 2) : renderRebuild(summary))
  })

export const renderSuggestions = (suggestions: ReadonlyArray<Suggestion>): string =>
  suggestions.length === 0
    ? "no probable duplicates"
    : [
      section("Probable duplicates (accept or dismiss each by its id)", suggestions.map((s) => ({ id: s.id, score: s.score, profile_a: s.a, profile_b: s.b }))),
      section("Evidence", suggestions.flatMap((s) => s.evidence.map((e) => ({ id: s.id, field: e.field, a: e.a, b: e.b, similarity: Number(e.similarity.toFixed(3)) })))),
    ].join("\n\n")

/** Sends a request to the running server's identity routes; its refusal (4xx, 5xx) is the message. */
const throughServer = <A>(server: RunningServer, path: string, body?: Record<string, unknown>) =>
  callServer<A>(server, body === undefined ? "GET" : "POST", `/v1/identity/${path}`, body)

/**
 * Runs a program on the data dir; while `cdp serve` holds it, asks the server instead (which applies a decision to
 * its running graph at once).
 */
const onDataDirOrServer = <A, E>(
  backend: BackendConfig,
  direct: Effect.Effect<A, E, Warehouse>,
  viaServer: (server: RunningServer) => Effect.Effect<A, ServerQueryFailed>,
) =>
  direct.pipe(
    Effect.scoped,
    Effect.provide(warehouseLayer(backend)),
    Effect.catch((error) => Effect.gen(function* () {
      const server = (error as { readonly _tag?: string })._tag === "DataDirLocked" ? runningServer(backend.dataDir) : undefined
      if (server === undefined) return yield* Effect.fail(error)
      return yield* viaServer(server)
    })),
  )

export const identitySuggestions = (options: { readonly tenant: string; readonly format: OutputFormat; readonly limit: number; readonly backend: BackendConfig }) =>
  Effect.gen(function* () {
    const suggestions = yield* onDataDirOrServer(options.backend,
      Effect.map(openSuggestions(options.tenant), (all) => all.slice(0, options.limit)),
      // The server answers pages of at most 1,000 (ingest/pages.ts): follow them until --limit is reached.
      (server) => allPages<Suggestion, ServerQueryFailed>(
        callServer, server, `/v1/identity/suggestions?${new URLSearchParams({ tenant: options.tenant })}`, "suggestions", options.limit))
    const text = options.format === "json" ? suggestions.map((s) => JSON.stringify(s)).join("\n") : renderSuggestions(suggestions)
    if (text !== "") print(text)
  })

const printDecision = (result: DecisionResult, format: OutputFormat) => {
  const { operation, rebuild } = result
  if (format === "json") print(JSON.stringify(rebuild === undefined ? { operation } : { operation, rebuild }))
  else if (rebuild === undefined) print(`dismissed ${operation.a} (${operation.opId}); it will not be suggested again`)
  else print(`recorded ${operation.kind} ${[operation.a, operation.b].filter((x) => x !== "").join(" / ")} (${operation.opId})\n${renderRebuild(rebuild)}`)
}

interface DecisionOptions {
  readonly tenant: string
  readonly reason: string
  readonly format: OutputFormat
  readonly config: IdentityConfig
  readonly backend: BackendConfig
}

/** Applies a decision on the data dir, or through the server that holds it; prints what it did. */
const decided = <E>(options: DecisionOptions, direct: Effect.Effect<DecisionResult, E, Warehouse>, path: string, body: Record<string, unknown>) =>
  Effect.gen(function* () {
    // The rule every decision checks (identity/decisions.ts), here before the data dir is opened, named as typed.
    yield* checkReason(options.reason).pipe(Effect.mapError((e) => new BadReason({ ...e, named: "--reason" })))
    const result = yield* onDataDirOrServer(options.backend, direct,
      (server) => throughServer<DecisionResult>(server, path, { tenant: options.tenant, reason: options.reason, ...body }))
    printDecision(result, options.format)
  })

/** `cdp identity split IDENTIFIER`: the identifier stops linking; what only it joined splits off. */
export const identitySplit = (options: DecisionOptions & { readonly identifier: string }) =>
  Effect.gen(function* () {
    // Checked before the data dir is opened or the server asked: a wrong identifier touches nothing.
    yield* readIdentifier(options.identifier, options.tenant, options.config)
    yield* decided(options, splitIdentifier(options.tenant, options.identifier, options.reason, options.config, Effect.void, cliActor()),
      "split", { identifier: options.identifier })
  })

/** `cdp identity separate A B`: two identifiers are different people; the merge that joined them is reverted. */
export const identitySeparate = (options: DecisionOptions & { readonly first: string; readonly second: string }) =>
  Effect.gen(function* () {
    yield* readIdentifier(options.first, options.tenant, options.config)
    yield* readIdentifier(options.second, options.tenant, options.config)
    yield* decided(options, separateIdentifiers(options.tenant, options.first, options.second, options.reason, options.config, Effect.void, cliActor()),
      "separate", { a: options.first, b: options.second })
  })

/** `cdp identity suggestions --accept ID | --dismiss ID`. */
export const identitySuggestionDecision = (options: DecisionOptions & { readonly id: string; readonly accept: boolean }) =>
  decided(options, decideSuggestion(options.tenant, options.id, options.accept, options.reason, options.config, Effect.void, cliActor()),
    `suggestions/${encodeURIComponent(options.id)}/${options.accept ? "accept" : "dismiss"}`, {})
