// `cdp token create|inspect|list|revoke`: scoped API tokens (ingest/auth.ts), on the data directory itself or through
// `cdp serve`'s /v1/tokens routes while it holds the data directory (as cdp dsr does).
import { type Command, Option } from "commander"
import { Data, Effect } from "effect"
import {
  createTokenWithin, inspectToken, listTokens, revokeTokenWithin, ROLE_NAMES, ROLES, SCOPES, TokenInvalid, tokenLookup, tokenView, type TokenView,
  validateTokenInput,
} from "../ingest/auth.ts"
import { notATokenIdMessage, TOKEN_ID } from "../ingest/token-route.ts"
import { dayOnTheCalendar } from "./calendar.ts"
import { readSetting, SETTINGS } from "./config.ts"
import { formatRows, type OutputFormat } from "./format.ts"
import { type BackendConfig, backendConfig, commandLogger, warehouseLayer } from "./layers.ts"
import { runCommand } from "./run.ts"
import { allPages, directOrServer, knownTenantsFor, serverCaller } from "./server-info.ts"

const print = (text: string) => process.stdout.write(`${text}\n`)

export class TokenServerFailed extends Data.TaggedError("TokenServerFailed")<{ readonly message: string }> {}

const callServer = serverCaller((message) => new TokenServerFailed({ message }))

const short = (iso: string | null) => (iso === null ? "-" : iso.replace("T", " ").slice(0, 19))

export const renderToken = (v: TokenView): string => [
  `id         ${v.id}${v.name === "" ? "" : ` (${v.name})`}`,
  `status     ${v.status}`,
  `role       ${v.role}`,
  `tenant     ${v.tenant ?? "every tenant"}`,
  `scopes     ${v.scopes.join(", ")}`,
  `created    ${short(v.createdAt)}`,
  `expires    ${v.expiresAt === null ? "never" : short(v.expiresAt)}`,
  ...(v.revokedAt === null ? [] : [`revoked    ${short(v.revokedAt)}`]),
  `last used  ${v.lastUsedAt === null ? "never" : short(v.lastUsedAt)}`,
].join("\n")

const rowsOf = (vs: ReadonlyArray<TokenView>) =>
  vs.map((v) => ({
    id: v.id, name: v.name, role: v.role, tenant: v.tenant ?? "*", status: v.status, scopes: v.scopes.join(","), created: short(v.createdAt),
    expires: v.expiresAt === null ? "never" : short(v.expiresAt), "last used": v.lastUsedAt === null ? "never" : short(v.lastUsedAt),
  }))

export const tokenCreate = (options: {
  readonly role: string
  readonly tenant: string | undefined
  readonly scopes: string | undefined
  readonly name: string | undefined
  readonly expires: string | undefined
  readonly format: OutputFormat
  readonly backend: BackendConfig
}) =>
  Effect.gen(function* () {
    const request = {
      role: options.role, tenant: options.tenant, name: options.name, expires: options.expires,
      scopes: options.scopes === undefined ? undefined : options.scopes.split(","),
    }
    // Checked before the data dir is opened: a wrong flag touches nothing.
    const input = validateTokenInput(request, Date.now(), knownTenantsFor(options.backend.dataDir))
    if (input instanceof TokenInvalid) return yield* Effect.fail(input)
    const direct = Effect.gen(function* () {
      const { token, record } = yield* createTokenWithin(input, yield* readSetting(SETTINGS.maxTokens))
      return { token, details: tokenView(record, undefined) }
    }).pipe(Effect.provide(warehouseLayer(options.backend)))
    const made = yield* directOrServer(options.backend, direct, (server) =>
      callServer<{ token: string; details: TokenView }>(server, "POST", "/v1/tokens", { ...request, expires: input.expiresAtMs === null ? undefined : new Date(input.expiresAtMs).toISOString() }))
    print(made.token)
    if (options.format === "json") print(JSON.stringify(made.details))
    else {
      print(renderToken(made.details))
      print("\nShown once: only its hash is stored. Send it as Authorization: Bearer TOKEN; cdp token revoke ID ends it.")
    }
  })

export const tokenInspect = (options: { readonly idOrToken: string; readonly format: OutputFormat; readonly backend: BackendConfig }) =>
  Effect.gen(function* () {
    const by = tokenLookup(options.idOrToken)
    if (by instanceof TokenInvalid) return yield* Effect.fail(by)
    const direct = inspectToken(options.idOrToken).pipe(Effect.provide(warehouseLayer(options.backend)))
    const view = yield* directOrServer(options.backend, direct, (server) =>
      Effect.map("id" in by
        ? callServer<{ details: TokenView }>(server, "GET", `/v1/tokens/${by.id}`)
        : callServer<{ details: TokenView }>(server, "POST", "/v1/tokens/inspect", { token: options.idOrToken }), (a) => a.details))
    print(options.format === "json" ? JSON.stringify(view) : renderToken(view))
  })

export const tokenList = (options: { readonly tenant: string | undefined; readonly format: OutputFormat; readonly backend: BackendConfig }) =>
  Effect.gen(function* () {
    const direct = listTokens.pipe(Effect.provide(warehouseLayer(options.backend)))
    const all = yield* directOrServer(options.backend, direct, (server) =>
      allPages<TokenView, TokenServerFailed>(callServer, server, "/v1/tokens", "tokens"))
    const views = options.tenant === undefined ? all : all.filter((v) => v.tenant === options.tenant)
    if (options.format === "json") {
      for (const v of views) print(JSON.stringify(v))
    } else {
      print(views.length === 0 ? "no tokens (cdp token create --role ROLE makes one)" : formatRows(rowsOf(views), "table"))
    }
  })

export const tokenRevoke = (options: { readonly id: string; readonly format: OutputFormat; readonly backend: BackendConfig }) =>
  Effect.gen(function* () {
    // Checked first: through cdp serve a 100,000-character id was refused as headers too large for the server.
    if (!TOKEN_ID.test(options.id)) return yield* Effect.fail(new TokenInvalid({ field: "id", message: notATokenIdMessage(options.id, "cdp token list") }))
    const direct = Effect.map(Effect.flatMap(readSetting(SETTINGS.maxTokens), (limit) => revokeTokenWithin(options.id, limit)), (r) => tokenView(r, undefined))
      .pipe(Effect.provide(warehouseLayer(options.backend)))
    const view = yield* directOrServer(options.backend, direct, (server) =>
      Effect.map(callServer<{ details: TokenView }>(server, "POST", `/v1/tokens/${encodeURIComponent(options.id)}/revoke`), (a) => a.details))
    print(options.format === "json" ? JSON.stringify(view) : `revoked ${view.id} at ${short(view.revokedAt)}`)
  })

/** `cdp token create|inspect|list|revoke`, added to the program. */
export const registerTokenCommands = (program: Command, shared: { readonly dataDirOption: () => Option }) => {
  const format = () => new Option("--format <format>", "output format").choices(["json", "table"]).default("table")
  const run = (main: Effect.Effect<unknown, unknown>) => runCommand(main.pipe(Effect.provide(commandLogger)))
  const token = program.command("token").description("scoped API tokens for the routes beside the collector (profiles, consent, DSRs, ...)")
  token
    .command("create")
    .description("make a token; prints it once (first line, alone), then what it may do. Only its hash is stored")
    .requiredOption("--role <role>", `what the token is for: ${ROLE_NAMES.join(", ")}`)
    .option("--tenant <tenant>", "bind it to one tenant (default: every tenant)")
    .option("--scopes <a,b>", "fewer scopes than the role's (comma-separated)")
    .option("--name <label>", "a label to recognise it by (not personal data)")
    .option("--expires <when>", "when it stops working: 2027-01-31 (00:00 UTC), 2027-01-31T12:00:00Z, or 30d / 12h from now", dayOnTheCalendar)
    .addOption(format())
    .addOption(shared.dataDirOption())
    .addHelpText("after", `
Roles and their scopes:
${ROLE_NAMES.map((r) => `  ${r.padEnd(11)} ${ROLES[r].join(", ")}`).join("\n")}

Scopes:
${Object.entries(SCOPES).map(([s, what]) => `  ${s.padEnd(21)} ${what}`).join("\n")}

A marketer's profile reads show e-mail addresses and phone numbers only when the person consented to the read's
purpose (?purpose=, default Personalization). The data directory's admin token (DATA_DIR/admin-token) is an admin
token too.

Examples:
  $ npx cdp token create --role marketer --tenant acme --name "CRM sync" --expires 90d
  $ npx cdp token create --role compliance --scopes dsr:read,consent:read
  $ TOKEN=$(npx cdp token create --role collector --tenant acme | head -1)`)
    .action((opts: { role: string; tenant?: string; scopes?: string; name?: string; expires?: string; format: OutputFormat; dataDir?: string }) => {
      run(tokenCreate({ role: opts.role, tenant: opts.tenant, scopes: opts.scopes, name: opts.name, expires: opts.expires, format: opts.format, backend: backendConfig(opts.dataDir) }))
    })
  token
    .command("inspect")
    .description("a token's role, tenant, scopes, creation, expiry and last use, by its id (tok_...) or the token itself")
    .argument("<token-or-id>", "tok_... or cdp_...")
    .addOption(format())
    .addOption(shared.dataDirOption())
    .action((idOrToken: string, opts: { format: OutputFormat; dataDir?: string }) => {
      run(tokenInspect({ idOrToken, format: opts.format, backend: backendConfig(opts.dataDir) }))
    })
  token
    .command("list")
    .description("every token (revoked and expired ones too), oldest first; never the tokens themselves")
    .option("--tenant <tenant>", "only tokens bound to this tenant")
    .addOption(format())
    .addOption(shared.dataDirOption())
    .action((opts: { tenant?: string; format: OutputFormat; dataDir?: string }) => {
      run(tokenList({ tenant: opts.tenant, format: opts.format, backend: backendConfig(opts.dataDir) }))
    })
  token
    .command("revoke")
    .description("end a token at once (a running cdp serve refuses it from the next request)")
    .argument("<id>", "the token's id (tok_...)")
    .addOption(format())
    .addOption(shared.dataDirOption())
    .action((id: string, opts: { format: OutputFormat; dataDir?: string }) => {
      run(tokenRevoke({ id, format: opts.format, backend: backendConfig(opts.dataDir) }))
    })
}
