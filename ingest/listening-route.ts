// GET /v1/listening/report: the social listening report of `cdp listen report`, for tokens with listening:read
// (ingest/auth.ts guards it), so marketers and the CLI read it while `cdp serve` holds the data directory.
//   ?since=7d|2w|24h|2024-09-01 (default 7d)  ?until=...
// POST /v1/listening/report {"since"?, "until"?, "tenant"?}: the same report, and its spikes recorded as alerts with
//   the alert webhook called (idempotent, a day and kind is raised once). A GET changes nothing, so ?alerts=1 is refused.
// Its consent rules are the report's own (no author who objects to social listening is listed). A caller without
// profiles:identifiers gets e-mail addresses and phone numbers in authors' handles and names, and in topic phrases,
// masked, as profile reads mask them for marketers.
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import type { ListenReport } from "../sentiment/index.ts"
import { DateNotOnCalendar, endNotAfterStart } from "../warehouse/calendar.ts"
import { apiReads, Warehouse, type WarehouseShape } from "../warehouse/warehouse.ts"
import type { Principal } from "./auth.ts"
import { readJson } from "./json.ts"
import { MASK, maskAddresses, PHONE_LIKE } from "./mask.ts"
import { refuseUnknownParameter } from "./pages.ts"
import { type QueryReply, receiveAdminBody, refuse, refuseFailure, refuseRepeated } from "./query-route.ts"
import { DEFAULT_TENANT } from "./writekeys.ts"

export const LISTENING_REPORT_PATH = "/v1/listening/report"

/** How the report is made (cdp serve passes its brand terms, alert webhook and the relations section). */
export type ListeningReporter = (options: {
  readonly tenant: string
  readonly since: Date
  readonly until?: Date
  readonly raiseAlerts: boolean
}) => Effect.Effect<ListenReport, unknown, Warehouse>

// Addresses, and runs of 7+ digits with the separators people type: what an author's display name may leak.
const scrub = (text: string) => maskAddresses(text).replace(PHONE_LIKE, (m) => (m.replace(/\D/g, "").length >= 7 ? MASK : m))

/** The report with e-mail addresses and phone numbers masked in its authors and in its topics (words of the posts). */
export const maskListenReport = (report: ListenReport): ListenReport & { masked: { kinds: ReadonlyArray<string> } } => {
  const author = <A extends { handle: string; name?: string }>(a: A): A => ({ ...a, handle: scrub(a.handle), ...(a.name === undefined ? {} : { name: scrub(a.name) }) })
  return {
    ...report,
    topAuthors: { byReach: report.topAuthors.byReach.map(author), byEngagement: report.topAuthors.byEngagement.map(author) },
    topics: { ...report.topics, phrases: report.topics.phrases.map((t) => ({ ...t, phrase: scrub(t.phrase), related: t.related.map(scrub) })) },
    masked: { kinds: ["email", "phone"] },
  }
}

const BODY_SHAPE = 'the body must be JSON {"since"?: "7d", "until"?: "2024-12-01", "tenant"?: "..."}'
const BODY_LIMIT = 16 * 1024

/** A POST's parameters (strings, as in the query string), or why the body is not usable. */
const postParameters = (text: string): { readonly given: Record<string, string> } | QueryReply => {
  if (text.trim() === "") return { given: {} }
  const read = readJson(text)
  if (read._tag === "refused") return refuse(400, "bad_body", `${BODY_SHAPE}: ${read.rejection.message}`, read.rejection.field)
  const body = read.value
  if (body === null || typeof body !== "object" || Array.isArray(body)) return refuse(400, "bad_body", BODY_SHAPE)
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(body)) {
    if (!["since", "until", "tenant"].includes(k)) return refuse(400, "bad_body", `unknown field "${k}"; ${BODY_SHAPE}`, `/${k}`)
    if (typeof v !== "string") return refuse(400, `bad_${k}`, `"${k}" must be a string`, `/${k}`)
    out[k] = v
  }
  return { given: out }
}

export const listeningRoute = (options: { readonly warehouse: WarehouseShape; readonly report?: ListeningReporter | undefined; readonly bodyIdleMs?: number | undefined }) =>
  (req: IncomingMessage, principal?: Principal): Effect.Effect<QueryReply> =>
    Effect.gen(function* () {
      const url = new URL(req.url ?? "/", "http://collector")
      const path = url.pathname.replace(/\/+$/, "")
      if (path !== LISTENING_REPORT_PATH) return refuse(404, "not_found", `no route ${path}; listening serves GET ${LISTENING_REPORT_PATH}`)
      if (req.method !== "GET" && req.method !== "HEAD" && req.method !== "POST") {
        return refuse(405, "method_not_allowed", `use GET ${LISTENING_REPORT_PATH} (POST to raise spike alerts)`, undefined, { allow: "GET, POST" })
      }
      const raiseAlerts = req.method === "POST"
      const unknown = refuseUnknownParameter(url, ["since", "until", "alerts"], "route")
      if (unknown !== undefined) return unknown
      const repeated = refuseRepeated(url, ["since", "until", "alerts"])
      if (repeated !== undefined) return repeated
      const alertsText = url.searchParams.get("alerts")
      if (alertsText !== null && !["0", "false"].includes(alertsText)) {
        return ["1", "true"].includes(alertsText)
          ? refuse(400, "alerts_need_post", `a GET changes nothing: POST ${LISTENING_REPORT_PATH} raises the spike alerts and calls the alert webhook`, "alerts")
          : refuse(400, "bad_alerts", `?alerts= is not taken: POST ${LISTENING_REPORT_PATH} raises the spike alerts`, "alerts")
      }
      let posted: Record<string, string> = {}
      if (raiseAlerts) {
        const text = yield* receiveAdminBody(req, BODY_LIMIT, options.bodyIdleMs, "a listening report body")
        if (typeof text !== "string") return text
        const parameters = postParameters(text)
        if (!("given" in parameters)) return parameters
        posted = parameters.given
        // Given in both with different values, which one counts would be a guess (a proxy may read the query string).
        // A tenant is the guard's to check (ingest/auth.ts: conflicting_tenant, or tenant_forbidden for a bound token).
        for (const name of ["since", "until"] as const) {
          const inQuery = url.searchParams.get(name)
          if (posted[name] !== undefined && inQuery !== null && posted[name] !== inQuery) {
            const quoted = (v: string) => JSON.stringify(v.slice(0, 40))
            return refuse(400, "conflicting_parameter",
              `${name} is given in the body (${quoted(posted[name])}) and in the query string (${quoted(inQuery)}): give it once`, name)
          }
        }
      }
      const param = (name: "since" | "until" | "tenant") => posted[name] ?? url.searchParams.get(name)
      const sentiment = yield* Effect.promise(() => import("../sentiment/index.ts"))
      const time = (field: "since" | "until", text: string): Date | QueryReply => {
        try {
          const d = field === "since" ? sentiment.parseSince(text) : sentiment.parseUntil(text)
          if (Number.isNaN(d.getTime())) throw new Error("not a time")
          return d
        } catch (e) {
          if (e instanceof DateNotOnCalendar) return refuse(400, `bad_${field}`, `${field}: ${e.message}`, field)
          // The period's own message says what is taken; the field as the caller gave it, in the body or the query string.
          return posted[field] !== undefined
            ? refuse(400, `bad_${field}`, `"${field}": ${(e as Error).message}`, `/${field}`)
            : refuse(400, `bad_${field}`, `?${field}=: ${(e as Error).message}`, field)
        }
      }
      const sinceText = param("since") ?? "7d"
      const since = time("since", sinceText)
      if (!(since instanceof Date)) return since
      const untilText = param("until")
      const until = untilText === null ? undefined : time("until", untilText)
      if (until !== undefined && !(until instanceof Date)) return until
      if (until !== undefined && until.getTime() <= since.getTime()) {
        return refuse(400, "bad_until", `until: ${endNotAfterStart(untilText!, { name: "since", text: sinceText })}`, "until")
      }
      const tooLong = sentiment.periodTooLong(since, until)
      if (tooLong !== undefined) return posted["since"] !== undefined ? refuse(400, "bad_since", `"since": ${tooLong}`, "/since") : refuse(400, "bad_since", `?since=: ${tooLong}`, "since")
      const tenant = param("tenant") ?? DEFAULT_TENANT
      const make: ListeningReporter = options.report ?? ((o) => sentiment.listenReport(o))
      const report = make({ tenant, since, ...(until === undefined ? {} : { until }), raiseAlerts })
      // A GET (it raises no alert) reads on the warehouse's reads connection, beside the pipeline's landing; a POST's
      // report stays on the pipeline's connection with the alerts it records.
      return yield* (raiseAlerts ? report : apiReads(report)).pipe(
        Effect.provideService(Warehouse, options.warehouse),
        Effect.map((report): QueryReply => ({
          status: 200,
          body: { success: true, report: principal !== undefined && !principal.scopes.has("profiles:identifiers") ? maskListenReport(report) : report },
        })),
        Effect.catch((e: unknown) => Effect.succeed(refuseFailure(e, "listening_failed"))),
      )
    })
