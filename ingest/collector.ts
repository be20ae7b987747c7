// The collector: an HTTP server speaking the Segment HTTP Tracking API (so Segment's and RudderStack's SDKs work
// unmodified), plus GET /health. A 2xx answer is only sent once the accepted messages are durably on the bus.
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from "node:http"
import type { AddressInfo } from "node:net"
import { getHeapStatistics } from "node:v8"
import type { Duplex } from "node:stream"
import { type Cause, Context, Data, Duration, Effect, Fiber, Layer } from "effect"
import { Warehouse } from "../warehouse/warehouse.ts"
import { describeType, isJsonObject, shownRejection } from "./schemas.ts"
import { BodyTooLarge, bodyErrorReply, DEFAULT_BODY_IDLE_MS, receiveBody, receiveBytes } from "./body.ts"
import { type BusUnavailable, TENANT_TURN } from "./bus.ts"
import type { CanonicalEvent, DeadLetter } from "./message.ts"
import { guardConnections } from "./connections.ts"
import { type HealthOptions, makeHealth } from "./health.ts"
import { corsHeaders, isBrowserRoute, originRefusal, preflightHeaders } from "./cors.ts"
import { ObjectStore } from "./objectstore.ts"
import { Pipeline, type Submitted } from "./pipeline.ts"
import type { SentimentConfig } from "../sentiment/index.ts"
import type { RetentionPolicy } from "../warehouse/retention.ts"
import type { IdentityConfig, TraitPrecedence } from "../identity/index.ts"
import type { ConsentPolicies } from "../consent/index.ts"
import type { RelationsConfig } from "../identity/relations/index.ts"
import { consentRoute } from "./consent-route.ts"
import { identityRoute } from "./identity-route.ts"
import { makeDsrRoute } from "./dsr-route.ts"
import { profileRoute } from "./profile-route.ts"
import { queryRoute, refuse } from "./query-route.ts"
import { keyedLocks, TurnsPerKey } from "../warehouse/turns.ts"
import {
  API_ROUTES, type ApiRouteName, type Handler, ingestTenant, loggedPath, makeAccessLog, makeGuard, makeTokenRegistry, matchApiRoute, subjectKeyer,
  tenantBesideCredential,
} from "./auth.ts"
import { tokenRoute } from "./token-route.ts"
import { meRoute } from "./me-route.ts"
import { audienceRoute } from "./audience-route.ts"
import { auditRoute } from "./audit-route.ts"
import type { DestinationConfig } from "./destinations/index.ts"
import { exportRoute } from "./export-route.ts"
import { type ListeningReporter, listeningRoute } from "./listening-route.ts"
import { makeJobs } from "./jobs.ts"
import { operationsRoute } from "./operations-route.ts"
import { relationsRoute } from "./relations-route.ts"
import { traitsRoute } from "./traits-route.ts"
import { deadLetterRoute } from "./dead-letter-route.ts"
import { auditSigner } from "../consent/audit.ts"
import { loadSecret, makeKeys } from "../consent/keys.ts"
import {
  bodyLimit, isBatchRoute, processSegmentRequest, readSegmentBody, type RejectedItem, SEGMENT_ROUTES, type SegmentBodyReading,
  type SegmentRequestResult, type SegmentRoute,
} from "./segment-api.ts"
import { type ImportedItem, splitItems, WEBHOOK_SOURCES } from "./sources/index.ts"
import { countZonelessTimes, passedLimit, sourceTimeZone } from "./sources/items.ts"
import { verifySendgridSignature } from "./sources/sendgrid.ts"
import type { WriteKeys } from "./writekeys.ts"
import { knownSpellings } from "../warehouse/tenant.ts"

export interface CollectorOptions {
  readonly port: number
  readonly host: string
  readonly writeKeys: WriteKeys
  /**
   * The data directory's admin token: a Bearer token of the admin role beside the API tokens of `cdp token create`
   * (ingest/auth.ts). `cdp query` and the other commands use it to go through a running server.
   */
  readonly adminToken?: string | undefined
  /** How long a request may wait for the bus before it is answered 503 (the sender retries; duplicates are dropped). */
  readonly publishTimeout?: Duration.Input
  /** SendGrid's Event Webhook verification key: when set, unsigned or badly signed SendGrid posts are refused. */
  readonly sendgridVerificationKey?: string | undefined
  /** The pipeline's identity configuration: how GET /v1/profiles reads identifiers, how decisions are applied. */
  readonly identity?: IdentityConfig | undefined
  /** How GET /v1/profiles ranks the sources of a trait (CDP_TRAIT_PRECEDENCE). */
  readonly traitPrecedence?: TraitPrecedence | undefined
  /** Each tenant's consent policy (CDP_CONSENT), for GET /v1/consent/{identifier}. */
  readonly consent?: ConsentPolicies | undefined
  /** The data directory (keyed-hash secret, audit signing key): when set, /v1/dsr serves data-subject requests. */
  readonly dataDir?: string | undefined
  /** Audiences a tenant may have (CDP_MAX_AUDIENCES). */
  readonly maxAudiences?: number | undefined
  /** Active API tokens a tenant may hold (CDP_MAX_TOKENS). */
  readonly maxTokens?: number | undefined
  /** Export destinations (CDP_DESTINATIONS): what /v1/exports runs and reports on. */
  readonly destinations?: ReadonlyArray<DestinationConfig> | undefined
  /** How GET /v1/listening/report makes the report (default: the report without brand terms or alert webhook). */
  readonly listeningReport?: ListeningReporter | undefined
  /** How POST /v1/operations/rescore scores texts (CDP_SENTIMENT; default the model without brand terms). */
  readonly sentiment?: SentimentConfig | undefined
  /** What POST /v1/operations/retention applies (CDP_RETENTION); without it the route says it is not served. */
  readonly retention?: RetentionPolicy | undefined
  /** How POST /v1/relations/compute scores profiles (CDP_RELATIONS; default DEFAULT_RELATIONS_CONFIG). */
  readonly relations?: RelationsConfig | undefined
  /** Per webhook source, its settings (e.g. calls: {columns, defaultCountry}). */
  readonly sourceOptions?: Readonly<Record<string, Record<string, unknown>>>
  /** When /health and senders are told the pipeline is not ready (free disk, backlog age). */
  readonly health?: HealthOptions | undefined
  /** Open connections at most (each is a file descriptor); default 800, within a default `ulimit -n` of 1024. */
  readonly maxConnections?: number | undefined
  /** Connections that have not yet sent a valid key; past it the oldest is answered 503 and closed. Default 200. */
  readonly maxUnauthenticatedConnections?: number | undefined
  /** Time to receive a request's headers before the connection is answered 408 and closed. Default 10 s. */
  readonly headersTimeout?: Duration.Input | undefined
  /** Time to receive a whole request (headers and body). Default 120 s. */
  readonly requestTimeout?: Duration.Input | undefined
  /** Longest pause between two chunks of a body before the request is answered 408. Default 10 s. */
  readonly bodyIdleTimeout?: Duration.Input | undefined
  /**
   * Connections open with one write key at most (a browser key is public: one source must not crowd out the
   * others or /health); past it the key's oldest idle connection, or its slowest body, is closed. Default 100.
   */
  readonly maxConnectionsPerKey?: number | undefined
  /**
   * Webhook body bytes held at once, each counted from its sender's check to its answer as its Content-Length (the
   * 10 MB limit when it has none or is compressed); past it, or past its tenant's share of it (an even share beside
   * the other tenants holding bodies and one more: half alone), a webhook post is answered 503 `server_busy` before its
   * body is read (one alone always goes, and a tenant's first). Default an eighth of the heap limit (about 560 MB of a 4.5 GB heap).
   */
  readonly maxWebhookBodyBytes?: number | undefined
  /** Average rate (bytes/s) a body must keep after `bodyRateGrace`, else 408 `body_too_slow`. Default 500. */
  readonly minBodyRate?: number | undefined
  /** How long a body may take before `minBodyRate` applies to it. Default 20 s. */
  readonly bodyRateGrace?: Duration.Input | undefined
  /**
   * Messages (and refused items) of one tenant accepted and not yet landed (on Kafka: not yet acknowledged); a post
   * past it is answered 429 `ingest_busy`. Default DEFAULT_MAX_PENDING_PER_TENANT.
   */
  readonly maxPendingPerTenant?: number | undefined
}

/**
 * On the in-process bus every tenant's messages wait in one line to land: without a cap, one tenant posting 100 full
 * batches at once put 150,000 messages before another tenant's one, which waited 31 s for 503, and the backlog made
 * /health refuse every tenant. 10,000 is four full batches (a webhook post of 10,000 items still goes, alone), about a
 * second of landing; 16 senders of 500-message batches (the benches' load) stay within it.
 */
export const DEFAULT_MAX_PENDING_PER_TENANT = 10_000

/** Seconds a sender refused `ingest_busy` is told to wait: about what landing a tenant's limit takes. */
const INGEST_BUSY_RETRY_SECONDS = 2

/** Webhook bodies may hold many items (a SendGrid batch, a CSV export, a mail with attachments). */
const WEBHOOK_BODY_LIMIT = 10 * 1024 * 1024
const MB = 1024 * 1024
const SERVER_BUSY_RETRY_SECONDS = 2
/**
 * Items one webhook post may carry (SendGrid posts at most 768 KB, a few thousand events). Without it a 4 MB body of
 * 2,000,000 empty items became as many dead letters, and the bus was not ready for every tenant for a minute.
 */
const WEBHOOK_MAX_ITEMS = 10_000

/** A signed SendGrid post older than this is refused (replay protection). */
const SIGNATURE_MAX_AGE_SECONDS = 600

export class Collector extends Context.Service<Collector, { readonly url: string; readonly server: Server }>()(
  "cdp/Collector",
) {
  static readonly layer = (options: CollectorOptions) => Layer.effect(Collector, makeCollector(options))
}

interface Reply {
  readonly status: number
  readonly body: unknown
  readonly headers?: Record<string, string>
}

const json = (status: number, body: unknown, headers?: Record<string, string>): Reply =>
  headers === undefined ? { status, body } : { status, body, headers }

/** The write key from HTTP Basic auth (key as user name, as Segment's SDKs send it). */
/** The 400's error line when some of a post's messages or items were refused (each is in `rejected`, kept as a dead letter). */
export const refusedSummary = (refused: number, total: number, noun: "message" | "item"): string =>
  refused < total
    ? `${refused} of ${total} ${noun}s were rejected; the others were accepted`
    : total === 1 ? `the ${noun} was rejected; nothing was accepted` : `all ${total} ${noun}s were rejected; nothing was accepted`

/**
 * What a Segment request is answered once its submission ended: the request refused whole, or its messages refused
 * (each kept as a dead letter) listed by index with those the bus could not hold (too_large: an events topic made
 * with a smaller max.message.bytes than cdp's, as a message is at most 32 KB), 413 when those were all that was refused.
 */
const segmentAnswer = (result: SegmentRequestResult, submitted: Submitted): Reply => {
  if (result.requestError !== undefined) {
    const e = result.requestError
    return json(400, { success: false, error: e.message, rule: e.rule, field: e.field, accepted: 0 })
  }
  const kept = new Map(submitted.keptTooLarge.map((k) => [k.event, k.deadLetter]))
  const tooLarge = kept.size === 0 ? [] : result.events.flatMap((e, i): Array<RejectedItem> => {
    const d = kept.get(e)
    return d === undefined ? [] : [shownRejection({ ...d.rejection, index: result.eventIndexes?.[i] ?? i, messageId: d.messageId })]
  })
  const rejected = tooLarge.length === 0 ? result.rejected : [...result.rejected, ...tooLarge].sort((a, b) => a.index - b.index)
  const accepted = result.events.length - tooLarge.length
  // A repeat of an earlier message of the batch lands once: said, not counted as accepted twice.
  const duplicates = result.duplicates === undefined ? {} : { duplicates: result.duplicates }
  const zonelessTimes = zonelessAnswer(result.events, kept)
  if (rejected.length === 0) return json(200, { success: true, accepted, ...duplicates, ...zonelessTimes })
  return json(result.rejected.length === 0 ? 413 : 400, {
    success: false,
    error: refusedSummary(rejected.length, result.rejected.length + result.events.length + (result.duplicates?.length ?? 0), "message"),
    accepted,
    rejected,
    ...duplicates,
    ...zonelessTimes,
  })
}

/**
 * The answer's zonelessTimes (webhooks and Segment's routes alike): the accepted messages or items whose time had no
 * zone, by the zone they were read in (countZonelessTimes); nothing when every time had one. An event the bus could
 * not hold (`kept` as too_large) is not counted: it was not handled, so its time was not read as anything.
 */
const zonelessAnswer = (events: ReadonlyArray<CanonicalEvent>, kept: ReadonlyMap<CanonicalEvent, unknown>): { readonly zonelessTimes?: Readonly<Record<string, number>> } => {
  const zoneless = countZonelessTimes(kept.size === 0 ? events : events.filter((e) => !kept.has(e)))
  return Object.keys(zoneless).length === 0 ? {} : { zonelessTimes: zoneless }
}

const basicAuthUser = (header: string | undefined): string | undefined => {
  if (header === undefined) return undefined
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header)
  if (m === null) return undefined
  const decoded = Buffer.from(m[1]!, "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  return colon === -1 ? decoded : decoded.slice(0, colon)
}

/**
 * Segment also accepts the write key in the body; used only when no Authorization header was sent. It is the body's
 * own `writeKey`, else (a batch as analytics.js sends it) the first message's own: never one inside a message's
 * properties or traits. It is found in the body as the route reads it (`read`, handed on so the body is parsed once).
 * A body the route refuses is parsed plainly, or read for the key as text when it is no JSON at all, so its sender is
 * still told what is wrong with it (and it is kept as that tenant's dead letter) rather than only that no key was found.
 */
const bodyWriteKey = (body: string, read: SegmentBodyReading): BodyKey => {
  let parsed: unknown
  if (read._tag === "json") parsed = read.value
  else {
    try {
      parsed = JSON.parse(body)
    } catch {
      return /"writeKey"\s*:\s*"([^"\\]{1,200})"/.exec(body)?.[1]
    }
  }
  if (!isJsonObject(parsed)) return undefined
  const batch = parsed["batch"]
  const own = keyAt(parsed, "/writeKey")
  if (own !== undefined || !Array.isArray(batch)) return own
  for (let index = 0; index < batch.length; index++) {
    const key = keyAt(batch[index], `/batch/${index}/writeKey`)
    if (key !== undefined) return key
  }
  return undefined
}

/** A write key found in a body, or where one was sent in a form no key has (null says nothing). */
type BodyKey = string | { readonly field: string; readonly got: string } | undefined

const keyAt = (o: unknown, field: string): BodyKey => {
  const key = isJsonObject(o) ? o["writeKey"] : undefined
  if (key === undefined || key === null) return undefined
  return typeof key === "string" && key !== "" ? key : { field, got: key === "" ? "an empty string" : describeType(key) }
}

/**
 * Whether the request carries Global Privacy Control (`Sec-GPC: 1`). Node joins a repeated header into "1, 1", which
 * is still the browser's opt-out: read each value.
 */
const sendsGpc = (req: IncomingMessage): boolean =>
  (req.headersDistinct["sec-gpc"] ?? []).some((line) => line.split(",").some((value) => value.trim() === "1"))

const UNAUTHORIZED_HEADERS = { "www-authenticate": 'Basic realm="cdp collector"' }

/** 401 for a request without a known write key; `how` says where the key may be sent. */
const unauthorized = (key: string | undefined, how: string) =>
  refuse(401, key === undefined ? "missing_write_key" : "unknown_write_key",
    key === undefined ? `no write key: send it as ${how}` : "the write key is not known to this collector",
    undefined, UNAUTHORIZED_HEADERS)

const makeCollector = (options: CollectorOptions) =>
  Effect.gen(function* () {
    const pipeline = yield* Pipeline
    const warehouse = yield* Warehouse
    const publishTimeout = options.publishTimeout ?? Duration.seconds(30)
    // Tenant names with capitals its write keys name, taken as written wherever a tenant is named (warehouse/tenant.ts).
    const knownTenants = knownSpellings(options.writeKeys.keys.map((k) => k.tenant))
    let draining = false
    const bodyIdleMs = Duration.toMillis(options.bodyIdleTimeout ?? Duration.millis(DEFAULT_BODY_IDLE_MS))
    const refuseBody = (error: Error) => {
      const r = bodyErrorReply(error)
      return refuse(r.status, r.rule, r.message)
    }
    /** Requests on this connection presented a valid key (none: the admin token): it no longer counts as unauthenticated. */
    const authenticated = (req: IncomingMessage, writeKey?: string) => connections?.trust(req.socket, writeKey)
    let connections: ReturnType<typeof guardConnections> | undefined

    const health = yield* makeHealth(options.health)

    // Each tenant's messages on their way to the warehouse (ingest/bus.ts: a 2xx waits for them), so that one tenant's
    // flood waits for itself, not every tenant for it.
    const pending = new TurnsPerKey()
    // Submissions run in the collector's scope, not the request's: a sender answered at the publish timeout leaves its
    // messages counted until they are handled (on close, one still running is interrupted: its sender was answered 503).
    const submissions = yield* Effect.scope
    const maxPending = options.maxPendingPerTenant ?? DEFAULT_MAX_PENDING_PER_TENANT
    const ingestBusy = (tenant: string, more?: number): Reply => {
      const held = pending.holds(tenant)
      const reply = refuse(429, "ingest_busy",
        `tenant ${tenant} has ${held} messages accepted and not yet landed` +
          (more === undefined ? `, its limit (${maxPending})` : `, and ${more} more would pass its limit of ${maxPending}`) +
          `; retry in ${INGEST_BUSY_RETRY_SECONDS} s, when they have landed (smaller batches, fewer at once)`,
        undefined, { "retry-after": String(INGEST_BUSY_RETRY_SECONDS) })
      return { ...reply, body: { ...(reply.body as object), limit: maxPending } }
    }
    /**
     * Submits what a post of `tenant` carries when the tenant's pending messages stay within the limit (or it has
     * none), holding them until the submission ends; else the 429. The sender waits for the submission at most the
     * publish timeout (then 503 backend_timeout), but the submission runs on and holds its messages until they are
     * handled (or fail): a timed-out post's messages still wait in the bus and will land, so a tenant retrying after
     * each 503 is refused 429 rather than queueing past its limit (before, the count was given back at the timeout:
     * a flood of retries queued 13 times the limit). A retry of the same ids lands nothing twice (warehouse/sink.ts).
     */
    const admitted = (tenant: string, events: ReadonlyArray<unknown>, deadLetters: ReadonlyArray<unknown>, submit: Effect.Effect<Submitted, BusUnavailable>) =>
      Effect.suspend(() => {
        const n = events.length + deadLetters.length
        return Effect.flatMap(admit(tenant, n, submit), (started) =>
          "refused" in started ? Effect.succeed<Reply | Submitted>(started.refused) : awaitSubmission(started.submission))
      })
    /**
     * Takes `n` of the tenant's pending messages for a post and starts its submission, holding them until the
     * submission ends; or the 429. Not interrupted between the two, so what is taken is always given back.
     */
    type Admission = { readonly refused: Reply } | { readonly submission: Fiber.Fiber<Submitted, BusUnavailable> }
    const admit = (tenant: string, n: number, submit: Effect.Effect<Submitted, BusUnavailable>): Effect.Effect<Admission> =>
      Effect.uninterruptible(Effect.suspend((): Effect.Effect<Admission> => pending.take(tenant, maxPending, n)
        ? Effect.map(Effect.forkIn(submit.pipe(Effect.ensuring(Effect.sync(() => pending.release(tenant, n)))), submissions), (submission) => ({ submission }))
        : Effect.succeed({ refused: ingestBusy(tenant, n) })))
    /** Done when a submission `admit` started is, or at the publish timeout. */
    const awaitSubmission = (submission: Fiber.Fiber<Submitted, BusUnavailable>) => Fiber.join(submission).pipe(Effect.timeout(publishTimeout))
    /**
     * A tenant's webhook posts are parsed one at a time, each admitted before the next is parsed: a post that then
     * finds its tenant at the limit is answered 429 unparsed. Read at once, acme's 20 posts of 10 MB were all parsed,
     * 19 only to be refused, holding the event loop (every tenant's requests) over 2 s.
     */
    const parsingTurn = keyedLocks()

    /** `query`: the request's query string, parsed once (?tenant=, a webhook's ?write_key=). */
    const ingest = (route: SegmentRoute, req: IncomingMessage, query: URLSearchParams) =>
      Effect.gen(function* () {
        const headerKey = basicAuthUser(req.headers.authorization)
        // An API token with the ingest scope (collector role) sends for its tenant, as a write key does.
        const bearer = /^Bearer\s/i.test(req.headers.authorization ?? "") ? ingestTenant(registry, req, query, knownTenants) : undefined
        if (typeof bearer === "object") return bearer
        if (req.headers.authorization !== undefined && headerKey === undefined && bearer === undefined) {
          return refuse(401, "bad_authorization", "Authorization must be HTTP Basic with the write key as user name, or Bearer with an API token", undefined, UNAUTHORIZED_HEADERS)
        }
        if (bearer !== undefined) authenticated(req)
        let tenant = bearer ?? (headerKey === undefined ? undefined : options.writeKeys.tenantOf(headerKey))
        if (headerKey !== undefined && tenant === undefined) {
          return refuse(401, "unknown_write_key", "the write key is not known to this collector", undefined, UNAUTHORIZED_HEADERS)
        }
        if (headerKey !== undefined) {
          const originRefused = originRefusal(options.writeKeys, headerKey, req)
          if (originRefused !== undefined) return refuse(403, "origin_not_allowed", originRefused)
          // Counted against its key's connections before the body comes, however slowly it comes.
          authenticated(req, headerKey)
        }
        // A tenant already at its limit is told so before its body is read and parsed.
        if (tenant !== undefined && pending.holds(tenant) >= maxPending) return ingestBusy(tenant)
        const body = yield* receiveBody(req, bodyLimit(route), bodyIdleMs)
        if (body instanceof Error) return refuseBody(body)
        let writeKey = headerKey
        let read: SegmentBodyReading | undefined
        if (tenant === undefined) {
          read = typeof body === "string" ? readSegmentBody(route, body) : undefined
          const found = typeof body === "string" ? bodyWriteKey(body, read!) : undefined
          if (typeof found === "object") {
            return refuse(401, "bad_write_key",
              `${found.field} must be a write key, a non-empty string (got ${found.got}); or send the key as the user name of HTTP Basic auth`,
              found.field, UNAUTHORIZED_HEADERS)
          }
          writeKey = found
          tenant = writeKey === undefined ? undefined : options.writeKeys.tenantOf(writeKey)
          if (tenant === undefined) return unauthorized(writeKey, "the user name of HTTP Basic auth (Authorization: Basic base64(KEY:))")
          const originRefused = originRefusal(options.writeKeys, writeKey!, req)
          if (originRefused !== undefined) return refuse(403, "origin_not_allowed", originRefused)
          authenticated(req, writeKey)
        }
        // A token's ?tenant= was checked by ingestTenant; a write key's is checked once its key is known.
        if (bearer === undefined) {
          const checked = tenantBesideCredential({ kind: "write key", tenant }, query.getAll("tenant"), knownTenants)
          if (typeof checked !== "string") return checked
        }
        if (body instanceof BodyTooLarge) {
          return refuse(413, "body_too_large",
            `${isBatchRoute(route) ? "a batch" : "a single message"} may be at most ${body.limit} bytes (${body.limit / 1024} KB)`)
        }
        const result = processSegmentRequest({
          route, body, tenant, receivedAtMs: Date.now(), gpc: sendsGpc(req), tenantOfKey: options.writeKeys.tenantOf, read,
          timeZone: sourceTimeZone(options.sourceOptions?.["segment"]),
        })
        const submitted = yield* admitted(tenant, result.events, result.deadLetters,
          pipeline.submit(result.events, result.deadLetters))
        return "keptTooLarge" in submitted ? segmentAnswer(result, submitted) : submitted
      })

    // Webhook bodies held now (their declared bytes), so that posts sent at once cannot run the process out of memory:
    // 60 posts of 10 MB did with a heap of 512 MB ("Reached heap limit"), every tenant's requests with it.
    const webhookBodyBudget = options.maxWebhookBodyBytes ?? Math.floor(getHeapStatistics().heap_size_limit / 8)
    let webhookBodiesHeld = 0
    const webhookBodiesOf = new TurnsPerKey()
    /**
     * Takes the bytes a webhook post's body may hold until its answer, with `use`, or the 503 when they would pass the
     * budget or the tenant's share of it: an even share beside the other tenants holding bodies and one more (half the
     * budget alone), so that one tenant's flood of large posts leaves room for another's (it held all of it before).
     */
    const holdWebhookBody = (req: IncomingMessage, tenant: string, use: Effect.Effect<Reply, Cause.TimeoutError | BusUnavailable>) =>
      Effect.suspend(() => {
        const declared = Number(req.headers["content-length"])
        const encoded = (req.headers["content-encoding"] ?? "identity").trim().toLowerCase() !== "identity"
        const bytes = encoded || !Number.isSafeInteger(declared) ? WEBHOOK_BODY_LIMIT : Math.min(declared, WEBHOOK_BODY_LIMIT + 1)
        const mine = webhookBodiesOf.holds(tenant)
        const share = Math.floor(webhookBodyBudget / (webhookBodiesOf.keys + (mine > 0 ? 1 : 2)))
        const busy = (why: string) => Effect.succeed(refuse(503, "server_busy", `${why}; retry in ${SERVER_BUSY_RETRY_SECONDS} s`, undefined,
          { "retry-after": String(SERVER_BUSY_RETRY_SECONDS) }))
        if (webhookBodiesHeld > 0 && webhookBodiesHeld + bytes > webhookBodyBudget) {
          return busy(`the server is holding ${Math.ceil(webhookBodiesHeld / MB)} MB of webhook bodies, its limit being ${Math.floor(webhookBodyBudget / MB)} MB`)
        }
        if (!webhookBodiesOf.take(tenant, share, bytes)) {
          return busy(`tenant ${tenant} is holding ${Math.ceil(mine / MB)} MB of webhook bodies, its share of the server's ` +
            `${Math.floor(webhookBodyBudget / MB)} MB being ${Math.floor(share / MB)} MB while other tenants may send theirs`)
        }
        webhookBodiesHeld += bytes
        return use.pipe(Effect.ensuring(Effect.sync(() => {
          webhookBodiesHeld -= bytes
          webhookBodiesOf.release(tenant, bytes)
        })))
      })

    const webhook = (name: string, req: IncomingMessage, query: URLSearchParams) =>
      Effect.gen(function* () {
        const headerKey = basicAuthUser(req.headers.authorization)
        // Some webhook senders cannot send Basic auth: the key may come as ?write_key= (never logged).
        const queryKeys = query.getAll("write_key")
        const key = headerKey ?? queryKeys[0]
        // Or an API token with the ingest scope (collector role), for its tenant.
        const bearer = /^Bearer\s/i.test(req.headers.authorization ?? "") ? ingestTenant(registry, req, query, knownTenants) : undefined
        if (typeof bearer === "object") return bearer
        const tenant = bearer ?? (key === undefined ? undefined : options.writeKeys.tenantOf(key))
        if (tenant === undefined) return unauthorized(key, "the user name of HTTP Basic auth, or as ?write_key=")
        // Every key the request names must be its tenant's: one of another tenant beside it names where the items
        // belong, and they would be filed under the wrong one. Unknown and foreign keys get the same words.
        if (queryKeys.some((k) => options.writeKeys.tenantOf(k) !== tenant)) {
          return refuse(400, "foreign_write_key", "?write_key= is not a write key of the tenant this request sends for; send each tenant's items with its own key", "write_key")
        }
        if (bearer === undefined) {
          const checked = tenantBesideCredential({ kind: "write key", tenant }, query.getAll("tenant"), knownTenants)
          if (typeof checked !== "string") return checked
          // A key restricted to some web origins is restricted on every route that takes it, not only where CORS is served.
          const originRefused = originRefusal(options.writeKeys, key!, req)
          if (originRefused !== undefined) return refuse(403, "origin_not_allowed", originRefused)
          authenticated(req, key)
        } else authenticated(req)
        if (pending.holds(tenant) >= maxPending) return ingestBusy(tenant)
        return yield* holdWebhookBody(req, tenant, webhookBody(name, req, tenant))
      })

    /** A webhook post of `tenant`, its sender known: its body read, checked, parsed and its items submitted. */
    const webhookBody = (name: string, req: IncomingMessage, tenant: string) =>
      Effect.gen(function* () {
        const source = WEBHOOK_SOURCES.get(name)!
        // Mail is bytes in the sender's charset: its parser gets them as received, never a lossy UTF-8 decoding.
        const received = source.parseBytes === undefined
          ? yield* receiveBody(req, WEBHOOK_BODY_LIMIT, bodyIdleMs)
          : yield* receiveBytes(req, WEBHOOK_BODY_LIMIT, bodyIdleMs)
        const bytes = typeof received === "string" || received instanceof BodyTooLarge || received instanceof Error ? undefined : received
        const body = bytes === undefined ? received as string | BodyTooLarge | Error : bytes.toString("latin1")
        if (body instanceof Error) return refuseBody(body)
        if (body instanceof BodyTooLarge) return refuse(413, "body_too_large", `a webhook body may be at most ${WEBHOOK_BODY_LIMIT / 1024 / 1024} MB`)
        if (name === "sendgrid" && options.sendgridVerificationKey !== undefined) {
          const signature = req.headers["x-twilio-email-event-webhook-signature"]
          const timestamp = req.headers["x-twilio-email-event-webhook-timestamp"]
          if (typeof signature !== "string" || typeof timestamp !== "string") {
            return refuse(401, "missing_signature", "SendGrid posts must be signed (X-Twilio-Email-Event-Webhook-Signature and -Timestamp)")
          }
          const age = Math.abs(Date.now() / 1000 - Number(timestamp))
          if (!(age <= SIGNATURE_MAX_AGE_SECONDS)) {
            return refuse(401, "stale_signature", `the signed timestamp is ${Number.isFinite(age) ? `${Math.round(age)} s` : "not a number"} away from now (limit ${SIGNATURE_MAX_AGE_SECONDS} s)`)
          }
          if (!verifySendgridSignature(options.sendgridVerificationKey, body, signature, timestamp)) {
            return refuse(401, "bad_signature", "the SendGrid signature does not match the body and the configured verification key")
          }
        }
        const sourceOptions = options.sourceOptions?.[name]
        const read = yield* parsingTurn(tenant)(Effect.gen(function* () {
          if (pending.holds(tenant) >= maxPending) return { refused: ingestBusy(tenant) }
          const ctx = { tenant, receivedAtMs: Date.now(), maxItems: WEBHOOK_MAX_ITEMS, ...(sourceOptions === undefined ? {} : { options: sourceOptions }) }
          const items = yield* Effect.promise(() =>
            Promise.resolve(bytes !== undefined ? source.parseBytes!(bytes, ctx) : source.parse(body, ctx)))
          if (passedLimit(items, ctx)) {
            // The source stopped reading one item past the limit: how many more the post held is not known.
            return { refused: refuse(413, "too_many_items", `a webhook post may carry at most ${WEBHOOK_MAX_ITEMS} items (this one has more); send them in smaller posts`) }
          }
          const { events, deadLetters } = splitItems(items)
          const started = yield* admit(tenant, events.length + deadLetters.length, submitInTurns(events, deadLetters))
          return "refused" in started ? started : { items, events, deadLetters, submission: started.submission }
        }))
        if ("refused" in read) return read.refused
        return yield* answerItems(read)
      })

    /**
     * A webhook post's items go to the pipeline a tenant's turn at a time, one after another (so in order): the
     * in-process bus hands on one publish call whole, and another tenant's message waited for all 10,000 of a post.
     */
    const submitInTurns = (events: ReadonlyArray<CanonicalEvent>, deadLetters: ReadonlyArray<DeadLetter>): Effect.Effect<Submitted, BusUnavailable> =>
      Effect.map(Effect.forEach(
        Array.from({ length: Math.max(1, Math.ceil(Math.max(events.length, deadLetters.length) / TENANT_TURN)) }, (_, i) => i * TENANT_TURN),
        (from) => pipeline.submit(events.slice(from, from + TENANT_TURN), deadLetters.slice(from, from + TENANT_TURN)),
      ), (turns) => ({ keptTooLarge: turns.flatMap((t) => t.keptTooLarge) }))

    /**
     * Answers a webhook post once the submission of its items (`admit`) has ended, or at the publish timeout. Its
     * refused items are listed in the post's order: those the source refused, and those the bus could not hold even
     * compressed (too_large, named by their place in the post), each kept as a dead letter. 413 when only the latter
     * were refused (as a body too large is), else 400.
     */
    const answerItems = ({ items, events, deadLetters, submission }: {
      readonly items: ReadonlyArray<ImportedItem>
      /** The accepted items' events: those whose time had no zone are counted by zone, as cdp ingest tells (zonelessAnswer). */
      readonly events: ReadonlyArray<CanonicalEvent>
      readonly deadLetters: ReadonlyArray<DeadLetter>
      readonly submission: Fiber.Fiber<Submitted, BusUnavailable>
    }) =>
      Effect.gen(function* () {
        const kept = new Map((yield* awaitSubmission(submission)).keptTooLarge.map((k) => [k.event, k.deadLetter]))
        const rejected = items.flatMap((item, i) => {
          const d = item._tag === "deadLetter" ? item.deadLetter : kept.get(item.event)
          if (d === undefined) return []
          const rejection = item._tag === "deadLetter" ? d.rejection : { ...d.rejection, message: `item ${i + 1}: ${d.rejection.message}` }
          return [shownRejection({ ...rejection, ...(d.messageId === "" ? {} : { messageId: d.messageId }) })]
        })
        const accepted = items.length - rejected.length
        const zonelessTimes = zonelessAnswer(events, kept)
        if (rejected.length === 0) return json(200, { success: true, accepted, ...zonelessTimes })
        return json(deadLetters.length === 0 ? 413 : 400, {
          success: false,
          error: refusedSummary(rejected.length, items.length, "item"),
          accepted,
          rejected,
          ...zonelessTimes,
        })
      })

    /** What a sender is told when the pipeline cannot take its messages now: 503, retry later. */
    const handled = <R>(effect: Effect.Effect<Reply, Cause.TimeoutError | BusUnavailable, R>) =>
      effect.pipe(
        Effect.catchTag("TimeoutError", () =>
          Effect.succeed(refuse(503, "backend_timeout", "the pipeline did not accept the messages in time; retry later", undefined, { "retry-after": "5" }))),
        Effect.catchTag("BusUnavailable", (e) =>
          Effect.succeed(refuse(503, "bus_unavailable", `the event bus is unavailable (${e.backend}); retry later`, undefined, { "retry-after": "5" }))),
      )

    const jobs = yield* makeJobs(warehouse)
    const registry = yield* makeTokenRegistry({ adminToken: options.adminToken, warehouse, maxTokens: options.maxTokens })
    // The data directory's audit signing key, read once: the access log, the audit routes and retention sign with it.
    const signer = options.dataDir === undefined ? undefined : yield* auditSigner(options.dataDir)
    // Accesses to personal data are audited where the audit log and the keyed-hash secret are: the data directory.
    const access = options.dataDir === undefined || signer === undefined ? undefined
      : yield* makeAccessLog(signer, subjectKeyer(makeKeys(yield* loadSecret(options.dataDir)), options.identity?.extract.normalise))
    const guard = makeGuard({ registry, access, bodyIdleMs, authenticated: (req) => authenticated(req), knownTenants })
    // Every API route's handler by its name in API_ROUTES (auth.ts), where its scope is: undefined is not served here.
    const handlers: Record<ApiRouteName, Handler | undefined> = {
      query: queryRoute({ warehouse, bodyIdleMs }),
      profiles: (req) => profileRoute(req, {
        warehouse, policies: options.consent,
        ...(options.identity === undefined ? {} : { identity: options.identity }),
        ...(options.traitPrecedence === undefined ? {} : { traitPrecedence: options.traitPrecedence }),
      }),
      consent: (req) => consentRoute(req, { warehouse, identity: options.identity, policies: options.consent }),
      identity: options.identity === undefined ? undefined
        : yield* identityRoute({ warehouse, config: options.identity, reload: pipeline.reloadIdentity, bodyIdleMs, jobs }),
      dsr: options.dataDir === undefined ? undefined
        : yield* makeDsrRoute({
          dataDir: options.dataDir, normalise: options.identity?.extract.normalise, policies: options.consent, bodyIdleMs,
          graph: { forget: pipeline.forgetIdentity, reload: pipeline.reloadIdentityOf }, signer,
        }),
      tokens: tokenRoute({ registry, bodyIdleMs, knownTenants }),
      audiences: audienceRoute({ warehouse, policies: options.consent, bodyIdleMs, maxAudiences: options.maxAudiences }),
      exports: yield* exportRoute({ destinations: options.destinations ?? [], policies: options.consent, bodyIdleMs }),
      listening: listeningRoute({ warehouse, report: options.listeningReport, bodyIdleMs }),
      deadLetters: deadLetterRoute({ warehouse, pipeline, bodyIdleMs, sourceOptions: options.sourceOptions }),
      relations: relationsRoute({ warehouse, config: options.relations, identity: options.identity, bodyIdleMs, jobs }),
      operations: operationsRoute({
        warehouse, pipeline, objects: yield* ObjectStore, jobs, sentiment: options.sentiment, retention: options.retention, bodyIdleMs,
        audit: signer, maxTokens: options.maxTokens,
      }),
      traits: traitsRoute({ warehouse, bodyIdleMs }),
      audit: signer === undefined ? undefined : yield* auditRoute({ signer }),
      me: meRoute({ registry, served: () => API_ROUTES.filter((r) => handlers[r.name] !== undefined) }),
    }

    const route = (req: IncomingMessage): Effect.Effect<Reply> => {
      const path = (req.url ?? "/").split("?", 1)[0]!.replace(/\/+$/, "")
      // Node keeps the first of several Authorization headers: which credential a request meant is then a guess.
      if ((req.headersDistinct["authorization"]?.length ?? 0) > 1) {
        return Effect.succeed(refuse(400, "duplicate_authorization", "send one Authorization header, not several", "authorization"))
      }
      if (path === "/health" || path === "/healthz") {
        return req.method === "GET" || req.method === "HEAD" ? health.report(draining) : Effect.succeed(refuse(405, "method_not_allowed", "use GET /health", undefined, { allow: "GET, HEAD" }))
      }
      const api = matchApiRoute(req)
      const handler = api === undefined ? undefined : handlers[api.route.name as ApiRouteName]
      if (api !== undefined && handler !== undefined) return guard(req, api, handler)
      const hook = /^\/v1\/webhooks\/([a-z]+)$/.exec(path)
      const m = /^\/v1\/([a-z]+)$/.exec(path)
      const known = hook !== null ? WEBHOOK_SOURCES.has(hook[1]!) : m !== null && SEGMENT_ROUTES.has(m[1]!)
      if (!known) {
        return Effect.succeed(refuse(404, "not_found",
          `no route ${req.method} ${path}; the collector serves POST /v1/{track,identify,page,screen,group,alias,batch,import} (and /v1/{t,i,p,s,g,a,b}), ` +
            `POST /v1/webhooks/{${[...WEBHOOK_SOURCES.keys()].join(",")}}, GET /health, and with an API token ` +
            `${API_ROUTES.filter((r) => handlers[r.name] !== undefined).map((r) => r.template).join(", ")} (also under /v1/tenants/{tenant}/...)`))
      }
      if (req.method === "OPTIONS" && isBrowserRoute(req)) return Effect.succeed(json(204, {}, preflightHeaders(req)))
      if (req.method !== "POST") return Effect.succeed(refuse(405, "method_not_allowed", `use POST ${path}`, undefined, { allow: "POST" }))
      if (draining) return Effect.succeed(refuse(503, "draining", "the collector is shutting down; retry later", undefined, { "retry-after": "5", connection: "close" }))
      // The path matched /v1/...: the URL parses.
      const query = new URL(req.url ?? "/", "http://collector").searchParams
      const notReady = (why: string) => refuse(503, "not_ready", `${why}; retry later`, undefined, { "retry-after": "5" })
      return Effect.flatMap(health.refusal, (why) => why !== undefined
        ? Effect.succeed(notReady(why))
        // A backend found down while the request waits for the pipeline answers it now, not at the publish timeout:
        // nothing was promised yet (what it published may still land; the sender's retry folds into it).
        : Effect.raceFirst(
          handled(hook !== null ? webhook(hook[1]!, req, query) : ingest(SEGMENT_ROUTES.get(m![1]!)!, req, query)),
          Effect.map(health.outage, notReady),
        ))
    }

    const context = yield* Effect.context<never>()
    const run = Effect.runPromiseWith(context)
    const handle = (req: IncomingMessage, res: ServerResponse) => {
      const started = performance.now()
      run(route(req).pipe(
        Effect.tap((reply) =>
          Effect.logInfo("request").pipe(Effect.annotateLogs({
            // A profile's path holds an identifier: personal data never goes to logs.
            method: req.method, path: loggedPath(req), status: reply.status,
            ms: Math.round(performance.now() - started),
            accepted: (reply.body as { accepted?: number }).accepted,
          }))),
      ))
        .then(async (reply) => {
          // The connection guard already answered (a body too slow, a key over its connections) and closed it.
          if (connections?.wasCut(req.socket)) return
          const retired = connections?.retired(req.socket) === true
          // A connection the guard gave up closes after this answer: first the rest of a body not read (a 429 is
          // answered before it), as closed with bytes unread the kernel resets it and the client may lose the answer.
          if (retired) await wholeBody(req)
          if (connections?.wasCut(req.socket)) return
          res.writeHead(reply.status, {
            "content-type": "application/json",
            // A 408's body did not come whole: what is left of it would be read as the next request, so the
            // connection ends with the answer, on every route (an API route's as a Segment route's).
            ...(draining || retired || reply.status === 408 ? { connection: "close" } : {}),
            ...reply.headers,
            ...corsHeaders(req),
          })
          res.end(JSON.stringify(reply.body))
        })
        .catch((error: unknown) => {
          if (connections?.wasCut(req.socket)) return
          run(Effect.logError("request failed").pipe(Effect.annotateLogs({ error: String(error) })))
          if (!res.headersSent) res.writeHead(500, { "content-type": "application/json", ...corsHeaders(req) })
          res.end(JSON.stringify({ success: false, error: "internal error" }))
        })
    }

    const server = yield* Effect.acquireRelease(
      Effect.callback<Server, Error>((resume) => {
        const requestTimeout = Duration.toMillis(options.requestTimeout ?? Duration.seconds(120))
        // Node refuses a headers timeout longer than the request timeout.
        const headersTimeout = Math.min(requestTimeout, Duration.toMillis(options.headersTimeout ?? Duration.seconds(10)))
        const s = createServer({
          keepAliveTimeout: 65_000,
          headersTimeout,
          requestTimeout,
          // How often Node looks for connections past those timeouts (its default, 30 s, would let them overstay).
          connectionsCheckingInterval: Math.max(10, Math.min(1000, headersTimeout / 4)),
        }, handle)
        connections = guardConnections(s, {
          maxConnections: options.maxConnections ?? 800,
          maxUnauthenticated: options.maxUnauthenticatedConnections ?? 200,
          maxPerKey: options.maxConnectionsPerKey ?? 100,
          minBodyRate: options.minBodyRate ?? 500,
          bodyRateGraceMs: Duration.toMillis(options.bodyRateGrace ?? Duration.seconds(20)),
        })
        s.on("clientError", answerClientError)
        // Without a listener Node closes a CONNECT's connection without a word.
        s.on("connect", answerConnect)
        // No 'upgrade' listener, on purpose: Node then serves a request asking to upgrade (websocket, h2c) as a plain
        // HTTP/1.1 request, the upgrade ignored (no 101), on every route; a listener would take its socket from the routes.
        s.once("close", () => connections?.stop())
        s.once("error", (e) => resume(Effect.fail(e)))
        s.listen(options.port, options.host, () => resume(Effect.succeed(s)))
      }),
      (s) =>
        Effect.gen(function* () {
          draining = true
          yield* Effect.logInfo("collector draining: no new requests; waiting for in-flight ones")
          // Connections kept alive go idle as their in-flight requests are answered: close each as it does.
          yield* Effect.callback<void>((resume) => {
            const sweep = setInterval(() => s.closeIdleConnections(), 50)
            s.close(() => {
              clearInterval(sweep)
              resume(Effect.void)
            })
            s.closeIdleConnections()
            return Effect.sync(() => clearInterval(sweep))
          }).pipe(Effect.timeout(Duration.minutes(2)), Effect.ignore)
          s.closeAllConnections()
          yield* Effect.logInfo("collector stopped")
        }),
    ).pipe(Effect.mapError((e) => new CollectorListenError({ host: options.host, port: options.port, cause: e })))
    const address = server.address() as AddressInfo
    const url = `http://${address.address.includes(":") ? `[${address.address}]` : address.address}:${address.port}`
    return { url, server }
  })

/** Resolves once the request's body has come whole (what is not read is thrown away), or the request went away. */
const wholeBody = (req: IncomingMessage): Promise<void> =>
  new Promise((resolve) => {
    if (req.complete || req.destroyed) return resolve()
    req.once("end", resolve)
    req.once("close", resolve)
    req.resume()
  })

/**
 * What Node answers by itself to a request it cannot parse (headers past its 16 KB, a request line that is not HTTP, a
 * request or headers timeout), as the JSON every other refusal is, naming the rule; then the connection is closed.
 */
const answerClientError = (error: NodeJS.ErrnoException, socket: Duplex): void => {
  // A peer that went away, or an answer already under way, gets nothing more.
  if (error.code === "ECONNRESET" || !socket.writable || (socket as { _httpMessage?: unknown })._httpMessage) {
    socket.destroy()
    return
  }
  const [status, rule, message] = error.code === "HPE_HEADER_OVERFLOW"
    ? [431, "headers_too_large", "the request's headers are larger than the server takes (16 KB in all); send fewer or shorter ones"]
    : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? [408, "request_timeout", "the request did not arrive in time"]
      : [400, "bad_http", "the request is not valid HTTP/1.1"]
  answerRaw(socket, status, rule, message)
}

/** An answer written on the socket itself (Node's parser has no response for it), as the JSON of every refusal; then closed. */
const answerRaw = (socket: Duplex, status: number, rule: string, message: string, headers = ""): void => {
  const body = JSON.stringify({ success: false, error: message, rule })
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}Connection: close\r\n\r\n${body}`)
}

/**
 * CONNECT (a proxy's tunnel): the collector is no proxy. Node hands the socket over instead of answering it; it is
 * answered 405 naming the method, and closed (a tunnel's bytes after the head are not read).
 */
const answerConnect = (_req: IncomingMessage, socket: Duplex): void => {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  answerRaw(socket, 405, "method_not_allowed", "CONNECT is not served: the collector is no proxy (it serves POST /v1/..., the API routes and GET /health)", "Allow: GET, HEAD, POST, PATCH, DELETE, OPTIONS\r\n")
}

export class CollectorListenError extends Data.TaggedError("CollectorListenError")<{
  readonly host: string
  readonly port: number
  readonly cause: Error
}> {
  override get message() {
    return `cannot listen on ${this.host}:${this.port}: ${this.cause.message}`
  }
}
