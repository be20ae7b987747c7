// `cdp profile events`: a profile's cross-channel timeline, page by page (the keyset cursor of
// GET /v1/profiles/{identifier}/events), on the data dir itself or through `cdp serve` while it holds the data dir;
// `cdp traits preview`: a computed trait's values before it is saved, on the data dir or through `cdp serve` too.
import { Data, Effect } from "effect"
import {
  BadTimelineQuery, type IdentifierRef, type IdentityConfig, parseDefinition, type Preview, previewComputedTrait, profileTimeline, shownPreview, readIdentifier, readTimelineQuery,
  type TimelinePage, type TimelineParams,
} from "../identity/index.ts"
import { PROFILES_PATH } from "../ingest/profile-route.ts"
import { TRAITS_PREVIEW_PATH } from "../ingest/traits-route.ts"
import type { DataDirLocked } from "../warehouse/warehouse.ts"
import { formatRows, type OutputFormat } from "./format.ts"
import { type BackendConfig, warehouseLayer } from "./layers.ts"
import { callServer, directOrServer, runningServer, ServerQueryFailed } from "./server-info.ts"

const refText = (ref: IdentifierRef) => (ref._tag === "profile" ? ref.profileId : `${ref.kind}:${ref.value}`)

const timelineThroughServer = (server: { readonly url: string; readonly token: string }, identifier: string, tenant: string, p: TimelineParams) =>
  Effect.tryPromise({
    try: async () => {
      const query = new URLSearchParams({ tenant })
      for (const [name, value] of [["limit", p.limit], ["cursor", p.cursor], ["since", p.since], ["until", p.until]] as const) {
        if (value !== undefined) query.append(name, value)
      }
      for (const c of p.channel ?? []) query.append("channel", c)
      for (const e of p.event ?? []) query.append("event", e)
      const res = await fetch(`${server.url}${PROFILES_PATH}${encodeURIComponent(identifier)}/events?${query}`, {
        headers: { authorization: `Bearer ${server.token}` },
      })
      const body = (await res.json()) as TimelinePage & { error?: string }
      if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`)
      return body as TimelinePage
    },
    catch: (e) => new ServerQueryFailed({ message: (e as Error).message }),
  })

export const renderTimeline = (page: TimelinePage, identifier: string): string => {
  const rows = page.events.map((e) => ({ time: e.timestamp, channel: e.channel, source: e.source, type: e.type, event: e.event, message_id: e.messageId }))
  return [
    `Timeline of profile ${page.profileId} (tenant ${page.tenant}), newest first`,
    rows.length === 0 ? "  (none)" : formatRows(rows, "table"),
    page.nextCursor === null ? "(last page)" : `next page: cdp profile events ${identifier} --cursor ${page.nextCursor}`,
  ].join("\n")
}

export const profileEvents = (options: {
  readonly identifier: string
  readonly tenant: string
  readonly params: TimelineParams
  readonly format: OutputFormat
  readonly backend: BackendConfig
  readonly config: IdentityConfig
}) =>
  Effect.gen(function* () {
    // Checked before the data dir is opened: wrong input touches nothing. The check is the HTTP route's, which names its
    // query parameters (limit); here they are flags (--limit).
    const q = yield* readTimelineQuery(options.params).pipe(
      Effect.mapError((e) => new BadTimelineQuery({ field: `--${e.field}`, reason: e.reason })),
    )
    const ref = yield* readIdentifier(options.identifier, options.tenant, options.config)
    const page = yield* profileTimeline(options.tenant, ref, q).pipe(
      Effect.scoped,
      Effect.provide(warehouseLayer(options.backend)),
      Effect.catchTag("DataDirLocked", (locked): Effect.Effect<TimelinePage, DataDirLocked | ServerQueryFailed> => {
        const server = runningServer(options.backend.dataDir)
        return server === undefined ? Effect.fail(locked) : timelineThroughServer(server, refText(ref), options.tenant, options.params)
      }),
    )
    process.stdout.write(`${options.format === "json" ? JSON.stringify(page, null, 2) : renderTimeline(page, options.identifier)}\n`)
  })

const shownValue = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v))

export const renderPreview = (p: Preview): string => {
  const d = p.distribution
  const distribution = d.type === "none" ? "  (no profile has a matching event)"
    : d.type === "number"
      ? formatRows([{ min: d.min, p25: d.p25, median: d.p50, p75: d.p75, p90: d.p90, max: d.max, mean: Number(d.mean.toFixed(3)) }], "table")
      : formatRows(d.top.map((t) => ({ value: shownValue(t.value), profiles: t.profiles })), "table")
  return [
    `Computed trait "${p.definition.name}" (${p.definition.kind}) over tenant ${p.tenant}: ${p.profiles} profiles with a matching event`,
    "Sample:",
    p.sample.length === 0 ? "  (none)" : formatRows(p.sample.map((s) => ({ profile_id: s.profileId, value: shownValue(s.value), events: s.events })), "table"),
    "Distribution over those profiles:",
    distribution,
    "Nothing was saved: add the definition to CDP_COMPUTED_TRAITS to keep it current.",
  ].join("\n")
}

/** `cdp traits preview`: what a computed-trait definition would show, before it is saved (on the data dir or through `cdp serve`). */
export const traitsPreview = (options: {
  readonly definition: string
  readonly tenant: string
  readonly sample: number
  readonly format: OutputFormat
  readonly backend: BackendConfig
}) =>
  Effect.gen(function* () {
    // Checked before the data dir is opened: a wrong definition touches nothing.
    const definition = yield* Effect.try({
      try: () => parseDefinition(options.definition),
      catch: (e) => new BadDefinition({ message: `--definition ${(e as Error).message}` }),
    })
    // While `cdp serve` holds the data dir, its POST /v1/traits/preview answers (the admin token: nothing masked).
    const preview = yield* directOrServer(options.backend,
      previewComputedTrait(options.tenant, definition, options.sample).pipe(Effect.map(shownPreview), Effect.scoped, Effect.provide(warehouseLayer(options.backend))),
      (server) => Effect.map(callServer<Preview & { success?: boolean }>(server, "POST", TRAITS_PREVIEW_PATH, { definition, sample: options.sample, tenant: options.tenant }),
        ({ success: _, ...answer }): Preview => answer))
    process.stdout.write(`${options.format === "json" ? JSON.stringify(preview, null, 2) : renderPreview(preview)}\n`)
  })

export class BadDefinition extends Data.TaggedError("BadDefinition")<{ readonly message: string }> {}
