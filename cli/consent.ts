// `cdp consent show <identifier>`: a person's consent per purpose (the signal in effect, its lawful basis and
// proof) and a page of the history of changes (newest first, --limit, --cursor), on the data dir or through `cdp serve`
// while it holds the data dir.
import { type Command, InvalidArgumentError, Option } from "commander"
import { Effect, Layer } from "effect"
import { type ConsentPolicies, ConsentPoliciesRef, Keys } from "../consent/index.ts"
import { type IdentifierRef, type IdentityConfig, readIdentifier } from "../identity/index.ts"
import {
  CONSENT_PATH, type ConsentPage, DEFAULT_CONSENT_HISTORY, HISTORY_KEY_SHAPE, HISTORY_LIST, MAX_CONSENT_HISTORY, readConsentPage,
} from "../ingest/consent-route.ts"
import { decodePageCursor, type PageKey } from "../ingest/pages.ts"
import type { DataDirLocked } from "../warehouse/warehouse.ts"
import { formatRows, type OutputFormat } from "./format.ts"
import { DEFAULT_TENANT } from "../ingest/writekeys.ts"
import { readSetting, SETTINGS } from "./config.ts"
import { type BackendConfig, backendConfig, commandLogger, warehouseLayer } from "./layers.ts"
import { runCommand } from "./run.ts"
import { runningServer, ServerQueryFailed } from "./server-info.ts"

const section = (title: string, rows: ReadonlyArray<Record<string, unknown>>) =>
  `${title}\n${rows.length === 0 ? "  (none)" : formatRows(rows, "table")}`

export const renderConsent = (v: ConsentPage, identifier: string): string =>
  [
    `Consent of profile ${v.profileId} (tenant ${v.tenant})${v.restricted ? ": processing RESTRICTED (Art. 18), no purpose may use it" : ""}`,
    section("Per purpose (the latest signal by event time wins; allowed = may be used for the purpose now)", v.purposes.map((p) => ({
      purpose: p.purpose, basis: p.basis, state: p.state, allowed: p.allowed ? "yes" : "no",
      since: p.since?.at ?? "", source: p.since?.source ?? "", message_id: p.since?.messageId ?? "",
    }))),
    section(`History (newest first, ${v.history.length} of ${v.historyTotal}: each change, with the message that carried it and what it said)`,
      v.history.map((h) => ({
        time: h.at, purpose: h.purpose, state: h.state, basis: h.basis, source: h.source, message_id: h.messageId, proof: h.proof,
      }))),
    ...(v.nextCursor === null ? [] : [`Older history: cdp consent show ${identifier} --cursor ${v.nextCursor}`]),
  ].join("\n\n")

const refText = (ref: IdentifierRef) => (ref._tag === "profile" ? ref.profileId : `${ref.kind}:${ref.value}`)

const consentThroughServer = (server: { readonly url: string; readonly token: string }, identifier: string, tenant: string, limit: number, cursor: string | undefined) =>
  Effect.tryPromise({
    try: async () => {
      const query = new URLSearchParams({ tenant, limit: String(limit), ...(cursor === undefined ? {} : { cursor }) })
      const res = await fetch(`${server.url}${CONSENT_PATH}${encodeURIComponent(identifier)}?${query}`, {
        headers: { authorization: `Bearer ${server.token}` },
      })
      const body = (await res.json()) as ConsentPage & { error?: string }
      if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`)
      return body as ConsentPage
    },
    catch: (e) => new ServerQueryFailed({ message: (e as Error).message }),
  })

/**
 * What `cdp consent show` prints when it holds the data dir itself (the warehouse, keys and policies given): the
 * route's read, paged in the engine, so a page costs a page however long the person's ledger is.
 */
export const consentShowOnDataDir = (tenant: string, ref: IdentifierRef, limit: number, after: PageKey | undefined) =>
  readConsentPage(tenant, ref, { limit, after, list: { what: HISTORY_LIST, tenant } })

export const consentShow = (options: {
  readonly identifier: string
  readonly tenant: string
  readonly format: OutputFormat
  readonly backend: BackendConfig
  readonly identity: IdentityConfig
  readonly policies: ConsentPolicies
  /** History entries shown (default 100), after the entry `cursor` names (a nextCursor as printed). */
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
}) =>
  Effect.gen(function* () {
    // Checked before the data dir is opened: a wrong identifier touches nothing.
    const ref = yield* readIdentifier(options.identifier, options.tenant, options.identity)
    const limit = options.limit ?? DEFAULT_CONSENT_HISTORY
    const after = options.cursor === undefined || options.cursor === "" ? undefined : decodePageCursor(options.cursor, HISTORY_KEY_SHAPE)
    const view = yield* consentShowOnDataDir(options.tenant, ref, limit, after).pipe(
      Effect.provideService(ConsentPoliciesRef, options.policies),
      Effect.scoped,
      // The keys resolve restrictions (attached to keyed hashes of identifiers) to profiles.
      Effect.provide(Layer.merge(warehouseLayer(options.backend), Keys.fromDataDir(options.backend.dataDir))),
      Effect.catchTag("DataDirLocked", (locked): Effect.Effect<ConsentPage, DataDirLocked | ServerQueryFailed> => {
        const server = runningServer(options.backend.dataDir)
        return server === undefined ? Effect.fail(locked) : consentThroughServer(server, refText(ref), options.tenant, limit, options.cursor)
      }),
    )
    process.stdout.write(`${options.format === "json" ? JSON.stringify(view, null, 2) : renderConsent(view, options.identifier)}\n`)
  })

/** --limit: a whole number from 1 to the route's most (commander prints the reason in one line). */
const historyLimit = (value: string): number => {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_CONSENT_HISTORY) throw new InvalidArgumentError(`must be a whole number from 1 to ${MAX_CONSENT_HISTORY}`)
  return n
}

/** --cursor: a nextCursor as a page printed it (checked before the data dir is opened). */
const historyCursor = (value: string): string => {
  if (decodePageCursor(value, HISTORY_KEY_SHAPE) === undefined) {
    throw new InvalidArgumentError("is not a cursor cdp consent show printed (pass the one after --cursor in its last line, or nextCursor, as it is)")
  }
  return value
}

/** Registers `cdp consent show` (cli/main.ts passes what every command shares). */
export const registerConsentCommands = (program: Command, shared: {
  readonly dataDirOption: () => Option
  /** The identity configuration the pipeline runs with: how identifiers are read. */
  readonly identity: () => IdentityConfig
}) => {
  const consent = program.command("consent").description("consent per person and purpose: the ledger")
  consent
    .command("show")
    .description("a person's consent per purpose (lawful basis, state, whether it may be used) with every change and its proof")
    .argument("<identifier>", "whose consent (e.g. email:ann@x.example, +447700900123, user_id:u1, prof_...)")
    .option("--tenant <tenant>", "tenant", DEFAULT_TENANT)
    .option("--limit <n>", `history entries to show, newest first (1-${MAX_CONSENT_HISTORY})`, historyLimit, DEFAULT_CONSENT_HISTORY)
    .option("--cursor <cursor>", "older history: the cursor a page printed (JSON: nextCursor)", historyCursor)
    .addOption(new Option("--format <format>", "output format").choices(["json", "table"]).default("table"))
    .addOption(shared.dataDirOption())
    .addHelpText("after", `
Purposes, their lawful basis and what is assumed when nothing is known come from CDP_CONSENT (see the README).
The history is a page of the ledger, newest first (--limit, default 100; --cursor for older ones); the state per
purpose is read from all of it. While cdp serve holds the data dir, the answer comes through its GET /v1/consent/{identifier}.

Examples:
  $ npx cdp consent show ann@x.example
  $ npx cdp consent show user_id:u1 --tenant acme --format json
  $ npx cdp consent show ann@x.example --limit 20            the 20 latest changes; the last line says how to see older ones`)
    .action((identifier: string, opts: { tenant: string; format: OutputFormat; dataDir?: string; limit: number; cursor?: string }) => {
      const main = Effect.gen(function* () {
        const policies = yield* readSetting(SETTINGS.consent)
        yield* consentShow({
          identifier, tenant: opts.tenant, format: opts.format, backend: backendConfig(opts.dataDir), identity: shared.identity(), policies,
          limit: opts.limit, cursor: opts.cursor,
        })
      })
      runCommand(main.pipe(Effect.provide(commandLogger)))
    })
}
