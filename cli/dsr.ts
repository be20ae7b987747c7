// `cdp dsr submit|status|list` and `cdp audit verify`: on the data directory itself, or through `cdp serve`'s
// /v1/dsr routes while it holds the data directory (the audit log is read directly: it is files in the object store).
import { type Command, Option } from "commander"
import { Data, Effect, Layer } from "effect"
import { auditSigner, type AuditVerification, verifyAudit } from "../consent/audit.ts"
import {
  DSR_TYPES, DsrInvalid, type DsrEnv, type DsrStatusView, failInterrupted, listDsr, requestStatus, type RequestView, requestView, submitRequest,
  validateDsr,
} from "../consent/dsr.ts"
import { Keys } from "../consent/keys.ts"
import { ConsentPoliciesRef } from "../consent/purposes.ts"
import { readSetting, SETTINGS } from "./config.ts"
import type { NormaliseOptions } from "../identity/normalise.ts"
import { formatRows, type OutputFormat } from "./format.ts"
import { type BackendConfig, backendConfig, commandLogger, objectStoreLayer, pipelineLayer, warehouseLayer } from "./layers.ts"
import { runCommand } from "./run.ts"
import { runningServer } from "./server-info.ts"

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

type Server = { readonly url: string; readonly token: string }

const callServer = <T>(server: Server, method: "GET" | "POST", path: string, body?: unknown) =>
  Effect.tryPromise({
    try: async () => {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${server.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
      const answer = (await res.json()) as T & { error?: string }
      if (!res.ok) throw new Error(answer.error ?? `HTTP ${res.status}`)
      return answer
    },
    catch: (e) => new DsrServerFailed({ message: (e as Error).message }),
  })

/** Runs `direct` on the data directory, or `viaServer` when `cdp serve` holds it. */
const directOrServer = <A, E, E2>(
  backend: BackendConfig,
  direct: Effect.Effect<A, E>,
  viaServer: (server: Server) => Effect.Effect<A, E2>,
): Effect.Effect<A, E | E2> =>
  Effect.catch(direct, (e): Effect.Effect<A, E | E2> => {
    const server = (e as { _tag?: string })._tag === "DataDirLocked" ? runningServer(backend.dataDir) : undefined
    return server === undefined ? Effect.fail(e) : viaServer(server)
  })

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
      return yield* Effect.fail(new DsrInvalid({ field: "id", message: `"${options.id}" is not a request id (they look like dsr_...)` }))
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
      return (yield* listDsr({ tenant: options.tenant, overdue: options.overdue })).map((r) => requestView(r))
    }).pipe(Effect.scoped, Effect.provide(directLayer(options.backend)))
    const query = new URLSearchParams({ ...(options.tenant === undefined ? {} : { tenant: options.tenant }), ...(options.overdue ? { overdue: "1" } : {}) })
    const views = yield* directOrServer(options.backend, direct, (server) =>
      Effect.map(callServer<{ requests: Array<RequestView> }>(server, "GET", `/v1/dsr?${query}`), (a) => a.requests))
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

/** `cdp audit verify`: reads the log from the object store (no warehouse: it works while cdp serve runs). */
export const auditVerify = (options: { readonly format: OutputFormat; readonly backend: BackendConfig }) =>
  Effect.gen(function* () {
    const v = yield* verifyAudit(yield* auditSigner(options.backend.dataDir))
    print(options.format === "json" ? JSON.stringify(v) : renderVerification(v))
    if (!v.ok) return yield* Effect.fail(new AuditTampered({ problems: v.problems.length }))
  }).pipe(Effect.provide(objectStoreLayer(options.backend)))

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
  program
    .command("audit")
    .description("the tamper-evident audit log of data-subject requests")
    .command("verify")
    .description("check the audit log's hash chain, signatures and signed head: exit 1 naming every edited, reordered or removed entry")
    .addOption(format())
    .addOption(shared.dataDirOption())
    .action((opts: { format: OutputFormat; dataDir?: string }) => {
      run(auditVerify({ format: opts.format, backend: backendConfig(opts.dataDir) }))
    })
}
