// "Keep with personal fields stripped": what is left of a message its purpose does not allow. Gone: every identifier
// (user id, anonymous id, previous id, e-mail, phone, handles), traits, free text, the IP and user agent, device ids,
// page URLs and referrers, and properties whose names say they hold a person's data. Kept: what counts and derived
// figures need (event name, time, channel, page path and title, product ids, prices, public metrics, follower counts)
// and the profile id, a pseudonymous key kept so erasure still finds the row and every use can ask the ledger.
import type { CanonicalEvent, JsonObject } from "../ingest/message.ts"

/** The key `extra` carries on a stripped message (value: the purpose that did not allow it). */
export const STRIPPED_MARK = "consent_stripped"

/** Context fields that describe the software and the consent, not the person. */
const SAFE_CONTEXT = new Set(["library", "locale", "timezone", "app", "os", "screen", "consent", "gpc", "campaign", "channel"])

/** Property names that hold a person's data (or point at other people): dropped whatever their value. */
const PERSONAL_PROPERTY = /email|phone|name|address|^ip$|agent|user|handle|description|mention|url|reply|conversation|referenced|author_id|^to$|^from$/i

const pick = (o: JsonObject, keep: (k: string) => boolean): JsonObject =>
  Object.fromEntries(Object.entries(o).filter(([k]) => keep(k)))

export const stripPersonal = (e: CanonicalEvent, purpose: string): CanonicalEvent => {
  const context: Record<string, unknown> = pick(e.context, (k) => SAFE_CONTEXT.has(k))
  const page = e.context["page"]
  if (page !== null && typeof page === "object" && !Array.isArray(page)) {
    const { path, title } = page as { path?: unknown; title?: unknown }
    context["page"] = { ...(path === undefined ? {} : { path }), ...(title === undefined ? {} : { title }) }
  }
  return {
    ...e,
    userId: "", anonymousId: "", previousId: "", identifiers: [], traits: {}, text: "",
    context,
    properties: pick(e.properties, (k) => !PERSONAL_PROPERTY.test(k)),
    extra: { ...pick(e.extra, (k) => k === "integrations"), [STRIPPED_MARK]: purpose },
    // Its raw text would carry everything stripped into a dead letter if landing failed.
    raw: undefined,
  }
}

/** The same, as ClickHouse expressions over the stored columns, for messages stored before a refusal arrived. */
export const SAFE_CONTEXT_KEYS: ReadonlyArray<string> = [...SAFE_CONTEXT]
export const PERSONAL_PROPERTY_PATTERN = PERSONAL_PROPERTY.source
