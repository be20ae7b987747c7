// The export API, what `cdp export` does on the data directory, for while `cdp serve` holds it (the embedded
// warehouse belongs to one process). The guard (ingest/auth.ts) checks the token first: reads need exports:read,
// runs, dry runs and replays exports:write; a token bound to a tenant only reaches that tenant's destinations.
//   GET  /v1/exports                         every destination of the tenant with its status
//   GET  /v1/exports/{destination}           one destination's status ({destination}/status too)
//   GET  /v1/exports/{destination}/history   its delivery log, newest first (?limit=, 1-1000, default 50; ?cursor=)
//   POST /v1/exports/run                     sync every destination of the tenant now  {"full"?: true}
//   POST /v1/exports/{destination}/run       sync one now                              {"full"?: true}
//   POST /v1/exports/{destination}/dry-run   what a sync would send, sending nothing   {"full"?: true, "limit"?: 1-1000 requests shown}
//   POST /v1/exports/{destination}/replay    send its dead letters again
import type { IncomingMessage } from "node:http"
import { Effect } from "effect"
import { type ConsentPolicies, ConsentPoliciesRef, DEFAULT_POLICIES } from "../consent/index.ts"
import {
  DESTINATION_NAME, DESTINATION_NAME_RULE, type DestinationConfig, DRY_RUN_SHOWN, findDestination, MAX_DRY_RUN_SHOWN, redacted, replayDeadLetters, sendingAlone, syncDestination,
  syncDestinations,
} from "./destinations/index.ts"
import type { ObjectStore } from "./objectstore.ts"
import { type DeliveryKey, deliveryHistory, lastRun, openCounts, presentCount, readCursor } from "../warehouse/exports.ts"
import { dateOffTheCalendar } from "../warehouse/calendar.ts"
import { TurnsPerKey } from "../warehouse/turns.ts"
import { apiReads, type Warehouse } from "../warehouse/warehouse.ts"
import { pageOf, readPage, refuseUnknownParameter } from "./pages.ts"
import { type QueryReply, receiveAdminBody, refuse, refuseFailure } from "./query-route.ts"
import { DEFAULT_TENANT } from "./writekeys.ts"

export const EXPORTS_PATH = "/v1/exports"

const BODY_LIMIT = 16 * 1024
export const MAX_HISTORY = 1000

/** A destination's state, as `cdp export status` and GET /v1/exports/{destination} show it (credentials redacted). */
export const destinationStatus = (c: DestinationConfig) =>
  Effect.gen(function* () {
    const cursor = yield* readCursor(c.tenant, c.name)
    const run = yield* lastRun(c.tenant, c.name)
    const open = yield* openCounts(c.tenant, c.name)
    return {
      destination: c.name, type: c.type, purpose: c.purpose, audience: c.audience ?? "",
      profiles_there: yield* presentCount(c.tenant, c.name),
      last_good_sync: cursor?.syncedAt ?? "never",
      last_run: run === undefined ? "never" : `${run.ended} (${run.delivered} delivered, ${run.failed} failed)`,
      dead_letters: open.deadLetters,
      erasures_pending: open.erasuresPending,
      config: redacted(c),
    }
  })

export type DestinationStatus = Effect.Success<ReturnType<typeof destinationStatus>>

const ACTIONS = new Set(["status", "history", "run", "dry-run", "replay"])

/**
 * Whether a history cursor's time is one a delivery can have: the shape the log gives, an instant on the calendar
 * (month 13, hour 24, 30 February are not) that a DateTime64 holds. The engine clamps or wraps any other, so a forged
 * or corrupt cursor was answered as an empty last page.
 */
const isDeliveryTime = (at: string): boolean =>
  /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,3})?$/.test(at) && dateOffTheCalendar(at) === undefined
  && !Number.isNaN(Date.parse(`${at.replace(" ", "T")}Z`)) && !at.slice(11).startsWith("24")

/**
 * A tenant's dry runs, one at a time (another is 429 dry_run_busy at once, as a second preview is): each reads and
 * builds every candidate profile of its destination, about 60 MB at 100,000 profiles, and nothing else bounded how
 * many one tenant's token ran at once (ten: the server from 1.1 to 1.7 GB). A run or replay is already one at a time
 * per destination (sendingAlone).
 */
const dryRuns = new TurnsPerKey()

/**
 * The 400 naming a query parameter a route does not take, which would otherwise be ignored without a word: ?full=1
 * on a dry run answered an incremental plan, ?limit=5 the default page (runs and dry runs read both from the body).
 */
const refuseUnknownQuery = (url: URL, action: string): QueryReply | undefined => {
  if (action === "history") return refuseUnknownParameter(url, ["limit", "cursor"], "list")
  if (action !== "run" && action !== "dry-run") return refuseUnknownParameter(url, ["tenant"], "route")
  const name = [...url.searchParams.keys()].find((n) => n !== "tenant")
  return name === undefined ? undefined : refuse(400, "unknown_parameter",
    `?${name.slice(0, 80)}= is not taken here; this route takes ?tenant=, and the rest in the body (${action === "run" ? '{"full"}' : '{"full", "limit"}'}), e.g. {"full": true}`,
    name.slice(0, 80))
}

export const exportRoute = (options: {
  readonly destinations: ReadonlyArray<DestinationConfig>
  readonly policies?: ConsentPolicies | undefined
  readonly bodyIdleMs?: number | undefined
}) =>
  Effect.gen(function* () {
    const context = yield* Effect.context<Warehouse | ObjectStore>()
    const run = <A>(effect: Effect.Effect<A, unknown, Warehouse | ObjectStore>, ok: (a: A) => QueryReply) =>
      effect.pipe(
        Effect.provideService(ConsentPoliciesRef, options.policies ?? DEFAULT_POLICIES),
        Effect.provideContext(context),
        Effect.map(ok),
        Effect.catch((e: unknown) => Effect.succeed(refuseFailure(e, "export_failed"))),
      )

    // A run or replay while another (through the API, or the schedule of CDP_EXPORT_EVERY) is sending to one of its
    // destinations is refused (409) rather than sending the same batches twice at once.
    const exclusive = (configs: ReadonlyArray<DestinationConfig>, effect: Effect.Effect<QueryReply>): Effect.Effect<QueryReply> =>
      Effect.map(sendingAlone(configs, effect), (o) => "busy" in o
        ? refuse(409, "export_running", `a run or replay of ${o.busy.map((c) => c.name).join(", ")} is still sending; try again when it ends`, "destination")
        : o.done)

    return (req: IncomingMessage): Effect.Effect<QueryReply> =>
      Effect.gen(function* () {
        const url = new URL(req.url ?? "/", "http://collector")
        const parts = url.pathname.replace(/\/+$/, "").slice(EXPORTS_PATH.length).split("/").filter((s) => s !== "")
        // HEAD is a GET without the body (node leaves it out).
        const method = req.method === "HEAD" ? "GET" : req.method ?? "GET"
        const asked = parts.length === 0 ? "status" : parts.length === 1 && parts[0] === "run" ? "run" : parts[1] ?? "status"
        const unknownQuery = ACTIONS.has(asked) ? refuseUnknownQuery(url, asked) : undefined
        if (unknownQuery !== undefined) return unknownQuery
        let body: Record<string, unknown> = {}
        if (method === "POST") {
          const text = yield* receiveAdminBody(req, BODY_LIMIT, options.bodyIdleMs, "an export body")
          if (typeof text !== "string") return text
          let parsed: unknown
          try {
            parsed = JSON.parse(text.trim() === "" ? "{}" : text)
          } catch {
            return refuse(400, "bad_body", 'the body must be a JSON object, e.g. {"full": true}')
          }
          if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return refuse(400, "bad_body", 'the body must be a JSON object, e.g. {"full": true}')
          body = parsed as Record<string, unknown>
          // What each POST reads of its body: a replay sends the dead letters again, and reads no "full".
          const [fields, takes] = parts.at(-1) === "dry-run" ? [["tenant", "full", "limit"], 'a dry run takes "full", "limit" and "tenant"']
            : parts.at(-1) === "replay" ? [["tenant"], 'a replay takes only "tenant"'] : [["tenant", "full"], 'an export body takes "full" and "tenant"']
          const unknown = Object.keys(body).find((k) => !fields.includes(k))
          if (unknown !== undefined) {
            const shown = unknown.length <= 80 ? unknown : `${unknown.slice(0, 80)}…`
            return refuse(400, "bad_body", `unknown field "${shown}" (${takes})`, `/${unknown.slice(0, 80)}`)
          }
          if (body.limit !== undefined && !(Number.isInteger(body.limit) && (body.limit as number) >= 1 && (body.limit as number) <= MAX_DRY_RUN_SHOWN)) {
            return refuse(400, "bad_limit", `"limit" (requests shown with their bodies) must be a whole number 1-${MAX_DRY_RUN_SHOWN}`, "/limit")
          }
          if (body.full !== undefined && typeof body.full !== "boolean") return refuse(400, "bad_full", '"full" must be true or false', "/full")
          if (body.tenant !== undefined && (typeof body.tenant !== "string" || body.tenant === "")) return refuse(400, "bad_tenant", '"tenant" must name a tenant', "/tenant")
        }
        const tenant = (body.tenant as string | undefined) ?? url.searchParams.get("tenant") ?? DEFAULT_TENANT
        const full = body.full === true
        const mine = options.destinations.filter((d) => d.tenant === tenant)

        // /v1/exports and /v1/exports/run: every destination of the tenant.
        if (parts.length === 0 || (parts.length === 1 && parts[0] === "run")) {
          if (parts.length === 0 && method !== "GET") return refuse(405, "method_not_allowed", `use GET ${EXPORTS_PATH} or POST ${EXPORTS_PATH}/run`, undefined, { allow: "GET" })
          if (parts.length === 1 && method !== "POST") return refuse(405, "method_not_allowed", `use POST ${EXPORTS_PATH}/run`, undefined, { allow: "POST" })
          if (mine.length === 0) return refuse(404, "no_destinations", `tenant "${tenant}" has no export destinations (set CDP_DESTINATIONS where cdp serve runs)`)
          return parts.length === 0
            ? yield* run(apiReads(Effect.forEach(mine, destinationStatus)), (destinations) => ({ status: 200, body: { success: true, tenant, destinations } }))
            : yield* exclusive(mine, run(syncDestinations(mine, { full }), (reports) => ({ status: 200, body: { success: true, tenant, reports } })))
        }
        const [name, action = "status", ...extra] = parts
        if (!DESTINATION_NAME.test(name!)) return refuse(400, "bad_destination", `a destination's name is ${DESTINATION_NAME_RULE}`, "destination")
        if (extra.length > 0 || !ACTIONS.has(action)) {
          return refuse(404, "not_found", `no route ${method} ${url.pathname}; a destination has /status, /history, /run, /dry-run and /replay`)
        }
        const config = findDestination(options.destinations, tenant, name!)
        if (config instanceof Error) return refuse(404, "unknown_destination", config.message, "destination")
        const reads = action === "status" || action === "history"
        if (reads && method !== "GET") return refuse(405, "method_not_allowed", `use GET ${EXPORTS_PATH}/${name}/${action}`, undefined, { allow: "GET" })
        if (!reads && method !== "POST") return refuse(405, "method_not_allowed", `use POST ${EXPORTS_PATH}/${name}/${action}`, undefined, { allow: "POST" })
        switch (action) {
          case "status":
            return yield* run(apiReads(destinationStatus(config)), (status) => ({ status: 200, body: { success: true, tenant, status } }))
          case "history": {
            const page = readPage(url, { what: "deliveries", of: config.name, shape: "snsss", fallback: 50, max: MAX_HISTORY })
            if ("status" in page) return page
            // The time is a DateTime64 parameter: a forged one is refused here, not by the engine.
            if (page.after !== undefined && !isDeliveryTime(page.after[0] as string)) {
              return refuse(400, "bad_cursor", "?cursor= is not a cursor this API gave (pass nextCursor of the previous page as it is)", "cursor")
            }
            return yield* run(apiReads(deliveryHistory(config.tenant, config.name, page.limit + 1, page.after as DeliveryKey | undefined)), (rows) => {
              const { items, nextCursor } = pageOf(rows, page, (r) => [r.at, Number(r.attempt), r.run_id, r.batch_id, r.operation])
              return { status: 200, body: { success: true, tenant, destination: config.name, history: items, nextCursor } }
            })
          }
          case "run":
            return yield* exclusive([config], run(syncDestination(config, { full }), (report) => ({ status: 200, body: { success: true, tenant, reports: [report] } })))
          case "dry-run":
            if (!dryRuns.take(tenant, 1)) {
              return refuse(429, "dry_run_busy", `a dry run of tenant "${tenant}" is already running (one at a time); retry when it finishes`, undefined, { "retry-after": "5" })
            }
            return yield* run(syncDestination(config, { full, dryRun: true, shown: (body.limit as number | undefined) ?? DRY_RUN_SHOWN }), (report) => ({ status: 200, body: { success: true, tenant, report, purpose: config.purpose, audience: config.audience ?? "" } }))
              .pipe(Effect.ensuring(Effect.sync(() => dryRuns.release(tenant))))
          default:
            return yield* exclusive([config], run(replayDeadLetters(config), (replay) => ({ status: 200, body: { success: true, tenant, replay } })))
        }
      })
  })
