// A computed trait previewed over HTTP, before it is saved (`cdp traits preview` goes through it while `cdp serve`
// holds the data dir; a console calls it): tokens with profiles:read (ingest/auth.ts guards it).
//   POST /v1/traits/preview {"definition": {...}, "sample"?: 1-1000, "tenant"?}   values for a sample of profiles and their distribution
// The values are the profiles' own data: for a token without profiles:identifiers, e-mail addresses and phone numbers
// in them are masked as the profile routes mask a computed trait (ingest/mask.ts).
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { type ComputedTraitDefinition, parseDefinition, type Preview, previewComputedTrait, shownPreview } from "../identity/index.ts"
import { TRAITS_PREVIEW_SECONDS } from "../warehouse/computed-traits.ts"
import { Warehouse, type WarehouseShape } from "../warehouse/warehouse.ts"
import type { Principal } from "./auth.ts"
import { holdsAlwaysMasked, MASK, MASKED_KINDS, maskValues, namedForIdentifier } from "./mask.ts"
import { adminBodyOf, isReply, type QueryReply, receiveAdminBody, refuse, refuseBusy, refuseFailure, refuseRepeated, refuseTooSlow } from "./query-route.ts"
import { compiledOnFirstUse, traitsPreviewBodySchema } from "./schemas.ts"
import { DEFAULT_TENANT } from "./writekeys.ts"

export const TRAITS_PREVIEW_PATH = "/v1/traits/preview"
/** Profiles shown unless "sample" says otherwise (as `cdp traits preview --sample`). */
const DEFAULT_SAMPLE = 10
const validateBody = compiledOnFirstUse<{ definition: object; sample?: number; tenant?: string }>(traitsPreviewBodySchema)
const BODY = 'the body must be JSON {"definition": {"name", "kind", "events"?, "channels"?, "of"?, "windowDays"?}, "sample"?: 1-1000, "tenant"?: "..."}'

/** A preview as a masked reader gets it: a masked number of the distribution is "[masked]". */
type MaskedPreview = Omit<Preview, "distribution"> & { readonly distribution: unknown; readonly masked?: { readonly kinds: ReadonlyArray<string> } }

/**
 * The preview's values (sample and distribution) masked as a profile's computed trait is for a reader without
 * profiles:identifiers: whole when the trait's name or its property is named for an e-mail address or a phone
 * (properties.email), else every address or phone-like number in what a sender wrote (first, last, most_frequent).
 * Counts, sums and sentiments are the engine's arithmetic or labels (a sum of money with cents would read as a phone
 * number): shown as they are unless named for one.
 */
const maskPreview = (p: Preview): MaskedPreview => {
  const { kind, name, of } = p.definition
  if (kind === "count" || kind === "latest_sentiment") return p
  const named = namedForIdentifier(name) || namedForIdentifier((of ?? "").replace(/^properties\./, ""))
  if (!named && kind === "sum") return p
  const d = p.distribution
  const numbers = d.type === "number" ? (["min", "p25", "p50", "p75", "p90", "max"] as const).map((k) => [k, d[k]] as const) : []
  const values = [...p.sample.map((s) => s.value), ...(d.type === "values" ? d.top.map((t) => t.value) : numbers.map(([, v]) => v))]
  const out = named ? values.map(() => MASK) : maskValues(values)
  const n = p.sample.length
  // The mean is no value a sender wrote: shown unless a value of the distribution is masked.
  const distribution = d.type === "values" ? { ...d, top: d.top.map((t, i) => ({ ...t, value: out[n + i] })) }
    : d.type === "number"
      ? { ...d, ...Object.fromEntries(numbers.map(([k], i) => [k, out[n + i]])), mean: out.slice(n).includes(MASK) ? MASK : d.mean }
      : d
  return { ...p, sample: p.sample.map((s, i) => ({ ...s, value: out[i] })), distribution, masked: { kinds: [...MASKED_KINDS] } }
}

/** A preview past its time (TRAITS_PREVIEW_SECONDS) is the definition's to narrow; any other failure as every route's. */
const failed = (seconds: number) => (e: unknown): Effect.Effect<QueryReply> =>
  Effect.succeed(refuseTooSlow(e, { rule: "preview_too_slow", seconds, narrow: "the definition's events, channels or windowDays", field: "/definition" })
    ?? refuseBusy(e) ?? refuseFailure(e, "preview_failed"))

export const traitsRoute = (options: {
  readonly warehouse: WarehouseShape
  readonly bodyIdleMs?: number | undefined
  /** How long a preview may run (TRAITS_PREVIEW_SECONDS). */
  readonly previewSeconds?: number | undefined
}) => {
  const seconds = options.previewSeconds ?? TRAITS_PREVIEW_SECONDS
  const preview = (req: IncomingMessage, url: URL, principal: Principal) =>
    Effect.gen(function* () {
      for (const name of new Set(url.searchParams.keys())) {
        if (name !== "tenant") return refuse(400, "unknown_parameter", `?${name}= is not taken here; say what to preview in the body (${BODY})`, name)
      }
      const repeated = refuseRepeated(url, ["tenant"])
      if (repeated !== undefined) return repeated
      const text = yield* receiveAdminBody(req, 64 * 1024, options.bodyIdleMs, "a traits preview body")
      if (typeof text !== "string") return text
      const body = adminBodyOf(text, validateBody, BODY)
      if (isReply(body)) return body
      let definition: ComputedTraitDefinition
      try {
        // The check `cdp traits preview --definition` makes, in the same words.
        definition = parseDefinition(JSON.stringify(body.definition))
      } catch (e) {
        const field = (e as { field?: string }).field ?? "/"
        return refuse(400, "bad_definition", `definition${(e as Error).message}`, `/definition${field === "/" ? "" : field}`)
      }
      // The guard checked the body's tenant against the token's and filled in a bound token's.
      const tenant = body.tenant ?? url.searchParams.get("tenant") ?? DEFAULT_TENANT
      const unmasked = principal.scopes.has("profiles:identifiers")
      // The values are masked, but whether events so named count would tell whether the hidden address or number is there.
      const revealing = unmasked ? -1 : (definition.events ?? []).findIndex(holdsAlwaysMasked)
      if (revealing >= 0) {
        return refuse(400, "masked_filter", `definition.events[${revealing}] holds an e-mail address or a phone number, which this token sees ` +
          "[masked]: counting by it would reveal them (a token with profiles:identifiers may)", `/definition/events/${revealing}`)
      }
      return yield* previewComputedTrait(tenant, definition, body.sample ?? DEFAULT_SAMPLE, seconds).pipe(
        // Masked first, then cut (shownPreview): an address or phone cut in half might no longer be found to mask.
        Effect.map((p): MaskedPreview => shownPreview(unmasked ? p : maskPreview(p))),
        Effect.provideService(Warehouse, options.warehouse),
        Effect.map((p): QueryReply => ({ status: 200, body: { success: true, ...p } })),
        Effect.catch(failed(seconds)),
      )
    })

  return (req: IncomingMessage, principal: Principal): Effect.Effect<QueryReply> => {
    const url = new URL(req.url ?? "/", "http://collector")
    const path = url.pathname.replace(/\/+$/, "")
    if (path !== TRAITS_PREVIEW_PATH) return Effect.succeed(refuse(404, "not_found", `no route ${path}; traits serves POST ${TRAITS_PREVIEW_PATH}`))
    if (req.method !== "POST") return Effect.succeed(refuse(405, "method_not_allowed", `use POST ${TRAITS_PREVIEW_PATH}`, undefined, { allow: "POST" }))
    return preview(req, url, principal)
  }
}
