// `cdp dsr submit|status|list` and `cdp audit verify|log`: on the data directory itself, or through `cdp serve`'s
// /v1/dsr and /v1/audit routes while it holds the data directory.
import { type Command, Option } from "commander"
import { Data, Effect, Layer } from "effect"
import type { IncomingMessage } from "node:http"
import { type AuditEntry, auditSigner, type AuditVerification, verifyAudit } from "../consent/audit.ts"
import { auditRoute, MAX_AUDIT_PAGE } from "../ingest/audit-route.ts"
import {
  DSR_TYPES, DsrInvalid, type DsrEnv, type DsrStatusView, failInterrupted, listDsr, requestListView, requestStatus, type RequestView, requestView, submitRequest,
  validateDsr,
} from "../consent/dsr.ts"
import { Keys } from "../consent/keys.ts"
import { ConsentPoliciesRef } from "../consent/purposes.ts"
import { dayOnTheCalendar } from "./calendar.ts"
import { readSetting, SETTINGS } from "./config.ts"
import type { NormaliseOptions } from "../identity/normalise.ts"
import { formatRows, type OutputFormat } from "./format.ts"
import { type BackendConfig, backendConfig, commandLogger, objectStoreLayer, pipelineLayer, warehouseLayer } from "./layers.ts"
import { runCommand } from "./run.ts"
import { allPages, directOrServer, runningServer, serverCaller } from "./server-info.ts"

const print = (text: string) => process.stdout.write(`${text}\n`)

/** The one identifier of `cdp dsr submit`, from --email, --phone, --user-id or --identifier. */
export const identifierFromFlags = (flags: { email?: string; phone?: string; userId?: string; identifier?: string }): string | DsrInvalid => {
  const given = [
    ...(flags.email === undefined ? [] : [["--email", `email:${flags.email}`]]),
    ...(flags.phone === undefined ? [] : [["--phone", `phone:${flags.phone}`]]),
    ...(flags.userId === undefined ? [] : [["--user-id", `user_id:${flags.userId}`]]),
    ...(flags.identifier === undefined ? [] : [["--identifier", flags.identifier]]),
  ]
  if (given.length !== 1) {
    return new DsrInvalid({
      field: "identifier",
      message: given.length === 0
        ? "say whose request it is: one of --email, --phone, --user-id or --identifier KIND:VALUE"
        : `give one identifier, not ${given.map(([flag]) => flag).join(" and ")}`,
    })
  }
  return given[0]![1]!
}

/** trait=value pairs of --set. */
export const parseSets = (sets: ReadonlyArray<string>): Record<string, string> | DsrInvalid => {
  const out: Record<string, string> = {}
  for (const s of sets) {
    const eq = s.indexOf("=")
    if (eq <= 0) return new DsrInvalid({ field: "set", message: `--set ${s}: expected trait=value` })
    out[s.slice(0, eq).trim()] = s.slice(eq + 1)
  }
  return out
}

export class DsrServerFailed extends Data.TaggedError("DsrServerFailed")<{ readonly message: string }> {}

export class DsrRequestFailed extends Data.TaggedError("DsrRequestFailed")<{ readonly requestId: string; readonly error: string }> {
  override get message() {
    return `request ${this.requestId} failed: ${this.error}`
  }
}

export class AuditTampered extends Data.TaggedError("AuditTampered")<{ readonly problems: number }> {
  override get message() {
    return `the audit log does not verify: ${this.problems} problem(s) (listed above)`
  }
}

const short = (iso: string | null) => (iso === null ? "-" : iso.replace("T", " ").slice(0, 19))

export const renderRequest = (v: RequestView, trail?: DsrStatusView["trail"]): string => {
  const head = [
    `request   ${v.id} (${v.type}, tenant ${v.tenant})`,
    `status    ${v.status}${v.error === "" ? "" : `: ${v.error}`}`,
    `received  ${short(v.receivedAt)}   due ${short(v.dueAt)}${v.overdue ? " (OVERDUE)" : ""}`,
    `finished  ${short(v.finishedAt)}`,
    `subject   ${v.subject.kind} (keyed hash ${v.subject.key.slice(0, 16)}...)`,
    // Completed with nothing found is a true answer, but one easy to take for done when the tenant was not the data's.
    ...(v.status === "completed" && (v.details as { tenantHoldsData?: unknown }).tenantHoldsData === false
      ? [`found     tenant "${v.tenant}" holds no data at all: check its name (--tenant); the request is recorded as asked`]
      : v.status === "completed" && (v.details as { profiles?: unknown }).profiles === 0
      ? [`found     no profile of tenant "${v.tenant}" holds it; other tenants are not searched (--tenant names one)`] : []),
    ...(typeof (v.details as { bundle?: { key: string; bytes: number } }).bundle === "object"
      ? [`bundle    ${(v.details as { bundle: { key: string; bytes: number } }).bundle.key} (${(v.details as { bundle: { bytes: number } }).bundle.bytes} bytes, object store)`]
      : []),
  ].join("\n")
  const parts = [head, `Done\n${v.done.length === 0 ? "  (nothing yet)" : formatRows(v.done.map((d) => ({ where: d.where, what: d.what, count: d.count })), "table")}`]
  if (trail !== undefined) {
    parts.push(`Audit trail\n${trail.length === 0 ? "  (none)" : formatRows(trail.map((t) => ({ seq: t.seq, at: short(t.at), what: t.kind, hash: `${t.hash.slice(0, 16)}...` })), "table")}`)
  }
  if (v.receipt !== null) parts.push(`Receipt   signed (key ${(v.receipt as { keyId: string }).keyId.slice(0, 16)}...); --format json shows it whole`)
  return parts.join("\n\n")
}

const listRows = (vs: ReadonlyArray<RequestView>) =>
  vs.map((v) => ({
    id: v.id, tenant: v.tenant, type: v.type, status: v.status, received: short(v.receivedAt), due: short(v.dueAt), overdue: v.overdue,
    done: v.done.filter((d) => d.count > 0).map((d) => `${d.where} ${d.what} ${d.count}`).join("; "),
  }))

/** The layers a dsr command runs on when it has the data directory itself, with the consent policies (CDP_CONSENT). */
const directLayer = (backend: BackendConfig) =>
  Layer.mergeAll(
    warehouseLayer(backend), objectStoreLayer(backend), Keys.fromDataDir(backend.dataDir),
    Layer.effect(ConsentPoliciesRef, readSetting(SETTINGS.consent)),
  )

/**
 * A rectification lands its statements through the pipeline (identity attaches them to whoever holds each
 * identifier), so it runs on the whole pipeline of the data directory.
 */
const pipelineWithPolicies = (backend: BackendConfig) =>
  Layer.merge(pipelineLayer(backend), Layer.effect(ConsentPoliciesRef, readSetting(SETTINGS.consent)))

const envOf = (backend: BackendConfig, normalise: NormaliseOptions | undefined) =>
  Effect.map(auditSigner(backend.dataDir), (signer): DsrEnv => ({ signer, normalise }))

const callServer = serverCaller((message) => new DsrServerFailed({ message }))

export const dsrSubmit = (options: {
  readonly type: string
  readonly identifier: string
  readonly tenant: string
  readonly set: Readonly<Record<string, string>>
  readonly lift: boolean
  readonly format: OutputFormat
  readonly backend: BackendConfig
  readonly normalise: NormaliseOptions | undefined
}) =>
  Effect.gen(function* () {
    const input = { tenant: options.tenant, type: options.type, identifier: options.identifier, set: options.set, lift: options.lift }
    // Checked before the data dir is opened: a wrong flag touches nothing.
    const valid = validateDsr(input, options.normalise)
    if (valid instanceof DsrInvalid) return yield* Effect.fail(valid)
    let printed = false
    const printId = (id: string) => {
      if (!printed) print(id)
      printed = true
    }
    const run = Effect.gen(function* () {
      const env = yield* envOf(options.backend, options.normalise)
      yield* failInterrupted(env)
      return requestView(yield* submitRequest(env, input, (r) => printId(r.requestId)))
    }).pipe(Effect.scoped)
    const direct = valid.type === "rectification"
      ? run.pipe(Effect.provide(pipelineWithPolicies(options.backend)))
      : run.pipe(Effect.provide(directLayer(options.backend)))
    const view = yield* directOrServer(options.backend, direct, (server) =>
      Effect.map(callServer<{ request: RequestView }>(server, "POST", "/v1/dsr", input), (a) => a.request))
    printId(view.id)
    print(options.format === "json" ? JSON.stringify(view) : renderRequest(view))
    if (view.status === "failed") return yield* Effect.fail(new DsrRequestFailed({ requestId: view.id, error: view.error }))
  })

type StatusAnswer = { readonly request: RequestView; readonly trail: DsrStatusView["trail"] }

export const dsrStatus = (options: { readonly id: string; readonly format: OutputFormat; readonly backend: BackendConfig; readonly normalise: NormaliseOptions | undefined }) =>
  Effect.gen(function* () {
    if (!/^dsr_[A-Za-z0-9_-]{1,64}$/.test(options.id)) {
      const shown = JSON.stringify(options.id.length <= 80 ? options.id : `${options.id.slice(0, 80)}…`)
      return yield* Effect.fail(new DsrInvalid({ field: "id", message: `${shown} is not a request id (they look like dsr_...)` }))
    }
    const direct = Effect.gen(function* () {
      yield* failInterrupted(yield* envOf(options.backend, options.normalise))
      const s = yield* requestStatus(options.id)
      return { request: requestView(s.request), trail: s.trail } as StatusAnswer
    }).pipe(Effect.scoped, Effect.provide(directLayer(options.backend)))
    const s = yield* directOrServer(options.backend, direct, (server) =>
      callServer<StatusAnswer>(server, "GET", `/v1/dsr/${options.id}`))
    print(options.format === "json" ? JSON.stringify({ ...s.request, trail: s.trail }) : renderRequest(s.request, s.trail))
  })

export const dsrList = (options: {
  readonly tenant: string | undefined
  readonly overdue: boolean
  readonly format: OutputFormat
  readonly backend: BackendConfig
  readonly normalise: NormaliseOptions | undefined
}) =>
  Effect.gen(function* () {
    const direct = Effect.gen(function* () {
      yield* failInterrupted(yield* envOf(options.backend, options.normalise))
      // The view GET /v1/dsr lists (receipts' subject keys cut, read so); cdp dsr status ID shows one whole.
      return (yield* listDsr({ tenant: options.tenant, overdue: options.overdue })).map((r) => requestListView(r))
    }).pipe(Effect.scoped, Effect.provide(directLayer(options.backend)))
    const query = new URLSearchParams({ ...(options.tenant === undefined ? {} : { tenant: options.tenant }), ...(options.overdue ? { overdue: "1" } : {}) })
    const views = yield* directOrServer(options.backend, direct, (server) =>
      allPages<RequestView, DsrServerFailed>(callServer, server, `/v1/dsr?${query}`, "requests"))
    if (options.format === "json") {
      for (const v of views) print(JSON.stringify(v))
    } else {
      print(views.length === 0 ? (options.overdue ? "no overdue requests" : "no requests") : formatRows(listRows(views), "table"))
    }
  })

export const renderVerification = (v: AuditVerification): string =>
  v.ok
    ? `audit log verified: ${v.entries} entries, hash chain and signatures intact; head ${v.headSeq} ${v.headHash.slice(0, 16)}... (key ${v.keyId.slice(0, 16)}...)`
    : `audit log FAILED verification: ${v.problems.length} problem(s) in ${v.entries} entries\n${formatRows(v.problems.map((p) => ({ seq: p.seq, object: p.key, problem: p.problem })), "table")}`

/**
 * `cdp audit verify`: reads the log from the object store (no warehouse), or asks `cdp serve`'s GET /v1/audit/verify
 * while it runs on the data directory (the process that appends is the one that reads).
 */
export const auditVerify = (options: { readonly format: OutputFormat; readonly backend: BackendConfig }) =>
  Effect.gen(function* () {
    const server = runningServer(options.backend.dataDir)
    const v = server !== undefined
      ? (yield* callServer<{ verification: AuditVerification }>(server, "GET", "/v1/audit/verify")).verification
      // The key is read once the store's layer checked the data dir (is it there, does it hold anything), as audit log does.
      : yield* Effect.flatMap(auditSigner(options.backend.dataDir), verifyAudit).pipe(Effect.provide(objectStoreLayer(options.backend)))
    print(options.format === "json" ? JSON.stringify(v) : renderVerification(v))
    if (!v.ok) return yield* Effect.fail(new AuditTampered({ problems: v.problems.length }))
  })

/** `cdp audit log`: a page of entries, newest first, from the object store or through `cdp serve`'s GET /v1/audit. */
export const auditLog = (options: {
  readonly tenant: string | undefined
  readonly since: string | undefined
  readonly until: string | undefined
  readonly kind: string | undefined
  readonly cursor: string | undefined
  readonly limit: string
  readonly format: OutputFormat
  readonly backend: BackendConfig
}) =>
  Effect.gen(function* () {
    const params = Object.fromEntries(Object.entries({
      tenant: options.tenant, since: options.since, until: options.until, kind: options.kind, cursor: options.cursor, limit: options.limit,
    }).filter((e): e is [string, string] => e[1] !== undefined))
    const server = runningServer(options.backend.dataDir)
    // Both ways go through the route's own checks of the parameters, so a wrong flag is the same one line.
    type Page = { entries: Array<AuditEntry>; nextCursor: string | null }
    const read: Effect.Effect<Page, unknown> = server !== undefined
      ? callServer<Page>(server, "GET", `/v1/audit?${new URLSearchParams(params)}`)
      : Effect.flatMap(auditSigner(options.backend.dataDir), (signer) => Effect.flatMap(auditRoute({ signer }), (route) =>
        Effect.flatMap(route({ method: "GET", url: `/v1/audit?${new URLSearchParams(params)}` } as IncomingMessage), (reply) => {
          const body = reply.body as { entries: Array<AuditEntry>; nextCursor: string | null; error?: string }
          return reply.status === 200 ? Effect.succeed(body) : Effect.fail(new DsrServerFailed({ message: body.error ?? `HTTP ${reply.status}` }))
        }))).pipe(Effect.provide(objectStoreLayer(options.backend)))
    const page = yield* read.pipe(
      // The route speaks of ?limit=; the command of --limit.
      Effect.mapError((e: unknown) => e instanceof DsrServerFailed
        ? new DsrServerFailed({ message: e.message.replace(/^([a-z]+): (?=\?\1=)/, "").replace(/\?([a-z]+)=/g, "--$1") })
        : e),
    )
    if (options.format === "json") {
      for (const e of page.entries) print(JSON.stringify(e))
    } else {
      print(page.entries.length === 0 ? "no entries match" : formatRows(page.entries.map((e) => ({
        seq: e.seq, at: short(e.at), kind: e.kind, tenant: e.tenant, request: e.requestId === "" ? "-" : e.requestId,
        what: e.kind === "api.access" ? `${(e.data as { records?: Array<unknown> }).records?.length ?? 0} access record(s)` : Object.keys(e.data).join(", "),
      })), "table"))
    }
    if (page.nextCursor !== null) print(options.format === "json" ? JSON.stringify({ nextCursor: page.nextCursor }) : `older: --cursor ${page.nextCursor}`)
  })

const collect = (value: string, previous: Array<string>) => [...previous, value]

/** `cdp dsr submit|status|list` and `cdp audit verify`, added to the program. */
export const registerDsrCommands = (program: Command, shared: {
  readonly dataDirOption: () => Option
  /** How identifiers are read (phone regions, mailbox rules): the pipeline's identity configuration. */
  readonly normalise: () => NormaliseOptions | undefined
}) => {
  const format = () => new Option("--format <format>", "output format").choices(["json", "table"]).default("table")
  const run = (main: Effect.Effect<unknown, unknown>) => runCommand(main.pipe(Effect.provide(commandLogger)))
  const dsr = program.command("dsr").description("data-subject requests (GDPR access, portability, rectification, restriction, objection, erasure)")
  dsr
    .command("submit")
    .description("take a data-subject request and run it at once; prints the request id (first line, alone), then its status")
    .requiredOption("--type <type>", `the right: ${DSR_TYPES.join(", ")}`)
    .option("--email <address>", "the person's e-mail address")
    .option("--phone <number>", "the person's phone number")
    .option("--user-id <id>", "the person's user id")
    .option("--identifier <KIND:VALUE>", "any identifier, e.g. twitter_handle:@ann")
    .option("--set <trait=value>", "rectification: the corrected value of a trait (repeatable)", collect, [])
    .option("--lift", "restriction: lift an earlier restriction of the person (processing may resume)")
    .option("--tenant <tenant>", "tenant", "default")
    .addOption(format())
    .addOption(shared.dataDirOption())
    .addHelpText("after", `
Every request has a due date one month after it was received, an audit trail, and (once completed) a signed receipt;
cdp dsr status ID shows them. access and portability write a zip (JSON and CSV) to the object store
(DATA_DIR/objects/dsr/bundles/TENANT/KEY/ID.zip); an erasure of the same person removes it with the rest.

Examples:
  $ npx cdp dsr submit --type access --email ann@x.example
  $ npx cdp dsr submit --type erasure --phone +447700900123 --tenant acme
  $ npx cdp dsr submit --type rectification --user-id u1 --set name="Ann Lee" --set city=Leeds
  $ npx cdp dsr submit --type restriction --email ann@x.example --lift
  $ npx cdp dsr submit --type objection --identifier twitter_handle:@ann`)
    .action((opts: { type: string; email?: string; phone?: string; userId?: string; identifier?: string; set: Array<string>; lift?: boolean; tenant: string; format: OutputFormat; dataDir?: string }) => {
      const identifier = identifierFromFlags(opts)
      const set = parseSets(opts.set)
      run(identifier instanceof DsrInvalid ? Effect.fail(identifier) : set instanceof DsrInvalid ? Effect.fail(set) : dsrSubmit({
        type: opts.type, identifier, tenant: opts.tenant, set, lift: opts.lift === true, format: opts.format, backend: backendConfig(opts.dataDir), normalise: shared.normalise(),
      }))
    })
  dsr
    .command("status")
    .description("a request's status (received, running, completed, failed), what was done where, its due date and audit trail")
    .argument("<id>", "the request id (dsr_...)")
    .addOption(format())
    .addOption(shared.dataDirOption())
    .action((id: string, opts: { format: OutputFormat; dataDir?: string }) => {
      run(dsrStatus({ id, format: opts.format, backend: backendConfig(opts.dataDir), normalise: shared.normalise() }))
    })
  dsr
    .command("list")
    .description("data-subject requests, oldest first")
    .option("--overdue", "only requests past their due date that are not completed")
    .option("--tenant <tenant>", "only this tenant's")
    .addOption(format())
    .addOption(shared.dataDirOption())
    .action((opts: { overdue?: boolean; tenant?: string; format: OutputFormat; dataDir?: string }) => {
      run(dsrList({ tenant: opts.tenant, overdue: opts.overdue === true, format: opts.format, backend: backendConfig(opts.dataDir), normalise: shared.normalise() }))
    })
  const audit = program
    .command("audit")
    .description("the tamper-evident audit log of data-subject requests and of accesses to personal data")
  audit
    .command("verify")
    .description("check the audit log's hash chain, signatures and signed head: exit 1 naming every edited, reordered or removed entry")
    .addOption(format())
    .addOption(shared.dataDirOption())
    .action((opts: { format: OutputFormat; dataDir?: string }) => {
      run(auditVerify({ format: opts.format, backend: backendConfig(opts.dataDir) }))
    })
  audit
    .command("log")
    .description("entries of the audit log, newest first, a page at a time (keyed hashes and counts, never identifiers)")
    .option("--since <when>", "from: 7d, 24h, 2026-01-31 or 2026-01-31T12:00:00Z", dayOnTheCalendar)
    .option("--until <when>", "before (same forms)", dayOnTheCalendar)
    .option("--kind <kinds>", "only these kinds, comma-separated (dsr.completed, api.access; dsr. takes every dsr kind)")
    .option("--tenant <tenant>", "only this tenant's entries")
    .option("--cursor <cursor>", "the page after the one that printed it (older entries)")
    .option("--limit <n>", `entries per page (1-${MAX_AUDIT_PAGE})`, "100")
    .addOption(format())
    .addOption(shared.dataDirOption())
    .addHelpText("after", `
Examples:
  $ npx cdp audit log --kind dsr. --since 30d
  $ npx cdp audit log --kind api.access --tenant acme --format json`)
    .action((opts: { since?: string; until?: string; kind?: string; tenant?: string; cursor?: string; limit: string; format: OutputFormat; dataDir?: string }) => {
      run(auditLog({
        since: opts.since, until: opts.until, kind: opts.kind, tenant: opts.tenant, cursor: opts.cursor, limit: opts.limit,
        format: opts.format, backend: backendConfig(opts.dataDir),
      }))
    })
}
