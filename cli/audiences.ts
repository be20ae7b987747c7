// `cdp audience create|edit|delete|preview|list|show|history|members|changes|refresh`: on the data directory itself,
// or through `cdp serve`'s /v1/audiences routes while it holds the data directory (refresh: serve refreshes itself).
import { existsSync } from "node:fs"
import { type Command, Option } from "commander"
import { Data, Effect, Layer } from "effect"
import { ConsentPoliciesRef } from "../consent/index.ts"
import {
  type Audience, audienceHistory, AudienceInvalid, AudienceUnusable, checkAudienceCondition, ConditionInvalid, createAudience, editAudience,
  type Explained, getAudience, listAudiences, MAX_CHANGES_LIMIT, MAX_SAMPLE, MaxAudiencesRef, parseCondition, type Preview, previewAudience, refreshAudiences,
} from "../identity/audiences/index.ts"
import { boundChangesSince, boundMembers, changesCursorOrFail, membersCursorOrFail } from "../ingest/audience-route.ts"
import { JsonFileUnreadable, readJsonFileText } from "../ingest/json-file.ts"
import type { CanonicalEvent } from "../ingest/message.ts"
import { Pipeline } from "../ingest/pipeline.ts"
import { DEFAULT_TENANT } from "../ingest/writekeys.ts"
import { readSetting, SETTINGS } from "./config.ts"
import { formatRows, type OutputFormat } from "./format.ts"
import { type BackendConfig, backendConfig, commandLogger, pipelineLayer, warehouseLayer } from "./layers.ts"
import { runCommand } from "./run.ts"
import { allPages, directOrServer, serverCaller } from "./server-info.ts"
import { cliActor } from "./actor.ts"

const print = (text: string) => process.stdout.write(`${text}\n`)

export class AudienceServerFailed extends Data.TaggedError("AudienceServerFailed")<{ readonly message: string }> {}

/** --condition: JSON text (starting with "{"), or a file holding it. */
export const readConditionFlag = (value: string): unknown | AudienceInvalid => {
  const text = value.trim().startsWith("{") ? value : existsSync(value) ? readJsonFileText(value) : undefined
  if (text === undefined) return new AudienceInvalid({ field: "condition", reason: `"${value.slice(0, 60)}" is neither JSON (starting with "{") nor a readable file` })
  if (text instanceof JsonFileUnreadable) return new AudienceInvalid({ field: "condition", reason: text.message })
  let condition: unknown
  try {
    condition = JSON.parse(text)
  } catch (e) {
    return new AudienceInvalid({ field: "condition", reason: `is not valid JSON (${(e as Error).message})` })
  }
  // Its shape is checked here too (depth, size, each node), before it is sent to cdp serve: a condition nested
  // thousands deep could not even be written as a request body.
  const parsed = parseCondition(condition)
  return parsed instanceof ConditionInvalid ? AudienceInvalid.fromCondition(parsed) : condition
}

const directLayer = (backend: BackendConfig) =>
  Layer.mergeAll(warehouseLayer(backend), Layer.effect(ConsentPoliciesRef, readSetting(SETTINGS.consent)), Layer.effect(MaxAudiencesRef, readSetting(SETTINGS.maxAudiences)))

const callServer = serverCaller((message) => new AudienceServerFailed({ message }))

const q = (tenant: string, extra: Record<string, string | undefined> = {}) =>
  `?${new URLSearchParams(Object.entries({ tenant, ...extra }).filter((e): e is [string, string] => e[1] !== undefined))}`

type AudienceView = Pick<Audience, "id" | "tenant" | "name" | "purpose" | "condition" | "version" | "updatedAt" | "updatedBy" | "invalid"> & { members?: number }

const viewOf = (a: Audience & { members?: number }): AudienceView => ({
  id: a.id, tenant: a.tenant, name: a.name, purpose: a.purpose, condition: a.condition, version: a.version, updatedAt: a.updatedAt,
  updatedBy: a.updatedBy, ...(a.members === undefined ? {} : { members: a.members }), ...(a.invalid === undefined ? {} : { invalid: a.invalid }),
})

const renderAudience = (a: AudienceView) => [
  `audience  ${a.id} "${a.name}" (tenant ${a.tenant}, version ${a.version})`,
  `purpose   ${a.purpose} (only profiles that may be used for it are members)`,
  ...(a.invalid === undefined ? [] : [`invalid   ${a.invalid.reason} (it is not evaluated or exported until then)`]),
  `updated   ${a.updatedAt.replace("T", " ").slice(0, 19)} by ${a.updatedBy}`,
  ...(a.members === undefined ? [] : [`members   ${a.members}`]),
  `condition ${JSON.stringify(a.condition)}`,
].join("\n")

export const renderPreview = (p: Preview) => {
  const explained = p.explained ?? p.sample.length
  const lines = [`${p.count} profile(s) match (as of ${p.asOf.replace("T", " ").slice(0, 19)}); ${p.sample.length} shown` +
    (explained < p.sample.length ? `, why for the first ${explained} (the condition has too many conditions to explain every one)` : "")]
  for (const s of p.sample as ReadonlyArray<Explained>) {
    lines.push("", `${s.profileId}`)
    for (const c of s.conditions) lines.push(`  ${c.matched ? "yes" : "no "}  ${c.condition}${c.value === "" ? "" : `  (value: ${c.value})`}  [${c.pointer === "" ? "/" : c.pointer}]`)
  }
  return lines.join("\n")
}

interface Common {
  readonly tenant: string
  readonly format: OutputFormat
  readonly backend: BackendConfig
}

const show = (format: OutputFormat, value: unknown, table: () => string) => print(format === "json" ? JSON.stringify(value) : table())

export const audienceCreate = (o: Common & { readonly name: string; readonly purpose: string; readonly condition: string; readonly note: string }) =>
  Effect.gen(function* () {
    const condition = readConditionFlag(o.condition)
    if (condition instanceof AudienceInvalid) return yield* Effect.fail(condition)
    const input = { name: o.name, purpose: o.purpose, condition }
    const direct = Effect.map(createAudience(o.tenant, input, cliActor(), o.note), viewOf).pipe(Effect.provide(directLayer(o.backend)))
    const a = yield* directOrServer(o.backend, direct, (s) =>
      Effect.map(callServer<{ audience: AudienceView }>(s, "POST", "/v1/audiences", { tenant: o.tenant, ...input, note: o.note }), (r) => r.audience))
    show(o.format, a, () => `${a.id}\n${renderAudience(a)}\nmembers are found at the next refresh (cdp serve does it as events land; or cdp audience refresh)`)
  })

export const audienceEdit = (o: Common & { readonly id: string; readonly name?: string; readonly purpose?: string; readonly condition?: string; readonly note: string; readonly delete: boolean }) =>
  Effect.gen(function* () {
    const condition = o.condition === undefined ? undefined : readConditionFlag(o.condition)
    if (condition instanceof AudienceInvalid) return yield* Effect.fail(condition)
    const edit = { ...(o.name === undefined ? {} : { name: o.name }), ...(o.purpose === undefined ? {} : { purpose: o.purpose }), ...(condition === undefined ? {} : { condition }) }
    if (!o.delete && Object.keys(edit).length === 0) {
      return yield* Effect.fail(new AudienceInvalid({ field: "edit", reason: "nothing to change: give --name, --purpose or --condition" }))
    }
    const direct = Effect.map(editAudience(o.tenant, o.id, { ...edit, delete: o.delete }, cliActor(), o.note),
      (a): AudienceView & { unchanged?: true } => ({ ...viewOf(a), ...("unchanged" in a ? { unchanged: true as const } : {}) })).pipe(Effect.provide(directLayer(o.backend)))
    const a = yield* directOrServer(o.backend, direct, (s) =>
      Effect.map(o.delete
        ? callServer<{ audience: AudienceView }>(s, "DELETE", `/v1/audiences/${encodeURIComponent(o.id)}${q(o.tenant)}`)
        : callServer<{ audience: AudienceView; unchanged?: true }>(s, "PATCH", `/v1/audiences/${encodeURIComponent(o.id)}`, { tenant: o.tenant, ...edit, note: o.note }),
        (r): AudienceView & { unchanged?: true } => ({ ...r.audience, ...("unchanged" in r && r.unchanged === true ? { unchanged: true as const } : {}) })))
    show(o.format, a, () => o.delete ? `deleted ${a.id} "${a.name}": its members exit at the next refresh`
      : a.unchanged === true ? `unchanged: ${a.id} "${a.name}" already has that name, purpose and condition (no version saved)\n${renderAudience(a)}`
      : renderAudience(a))
  })

export const audiencePreview = (o: Common & { readonly id?: string; readonly purpose?: string; readonly condition?: string; readonly sample: number }) =>
  Effect.gen(function* () {
    const condition = o.condition === undefined ? undefined : readConditionFlag(o.condition)
    if (condition instanceof AudienceInvalid) return yield* Effect.fail(condition)
    if (o.id === undefined && (condition === undefined || o.purpose === undefined)) {
      return yield* Effect.fail(new AudienceInvalid({ field: "preview", reason: "give an audience id, or --condition with --purpose" }))
    }
    const direct = Effect.gen(function* () {
      const saved = o.id === undefined ? undefined : yield* getAudience(o.tenant, o.id)
      // As the route: a saved audience's removed purpose (or condition) is refused unless the flags give another.
      if (saved?.invalid !== undefined && (saved.invalid.field === "purpose" ? o.purpose === undefined : condition === undefined)) {
        return yield* Effect.fail(new AudienceUnusable({ tenant: o.tenant, id: saved.id, name: saved.name, field: saved.invalid.field, reason: saved.invalid.reason }))
      }
      const node = yield* checkAudienceCondition(o.tenant, condition ?? saved!.condition)
      if (node instanceof AudienceInvalid) return yield* Effect.fail(node)
      return (yield* previewAudience(o.tenant, o.purpose ?? saved!.purpose, node, o.sample)) as Preview
    }).pipe(Effect.provide(directLayer(o.backend)))
    const p = yield* directOrServer(o.backend, direct, (s) =>
      callServer<Preview>(s, "POST", "/v1/audiences/preview", {
        tenant: o.tenant, sample: o.sample, ...(o.id === undefined ? {} : { id: o.id }), ...(o.purpose === undefined ? {} : { purpose: o.purpose }),
        ...(condition === undefined ? {} : { condition }),
      }))
    show(o.format, { count: p.count, sample: p.sample, explained: p.explained ?? p.sample.length, asOf: p.asOf }, () => renderPreview(p))
  })

export const audienceList = (o: Common) =>
  Effect.gen(function* () {
    const direct = Effect.map(listAudiences(o.tenant), (as) => as.map(viewOf)).pipe(Effect.provide(directLayer(o.backend)))
    // Through the server, page after page (by id); shown by name as the direct read gives them.
    const all = yield* directOrServer(o.backend, direct, (s) => Effect.gen(function* () {
      const got = yield* allPages<AudienceView, AudienceServerFailed>(callServer, s, `/v1/audiences${q(o.tenant)}`, "audiences")
      return got.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1)
    }))
    if (o.format === "json") for (const a of all) print(JSON.stringify(a))
    else {
      print(all.length === 0 ? `no audiences in tenant "${o.tenant}" (cdp audience create)` : formatRows(all.map((a) => ({
        id: a.id, name: a.name, purpose: a.purpose, members: a.members ?? 0, version: a.version, updated: a.updatedAt.replace("T", " ").slice(0, 19),
        state: a.invalid === undefined ? "ok" : "invalid",
      })), "table"))
      for (const a of all) if (a.invalid !== undefined) print(`${a.id} "${a.name}" is invalid: ${a.invalid.reason} (it is not evaluated or exported until then)`)
    }
  })

export const audienceShow = (o: Common & { readonly id: string }) =>
  Effect.gen(function* () {
    const direct = Effect.gen(function* () {
      const a = yield* getAudience(o.tenant, o.id)
      const members = (yield* listAudiences(o.tenant)).find((x) => x.id === a.id)?.members ?? 0
      return viewOf({ ...a, members })
    }).pipe(Effect.provide(directLayer(o.backend)))
    const a = yield* directOrServer(o.backend, direct, (s) =>
      Effect.map(callServer<{ audience: AudienceView }>(s, "GET", `/v1/audiences/${encodeURIComponent(o.id)}${q(o.tenant)}`), (r) => r.audience))
    show(o.format, a, () => renderAudience(a))
  })

export const audienceHistoryCmd = (o: Common & { readonly id: string }) =>
  Effect.gen(function* () {
    const direct = audienceHistory(o.tenant, o.id).pipe(Effect.provide(directLayer(o.backend)))
    const versions = yield* directOrServer(o.backend, direct, (s) =>
      allPages<Effect.Success<typeof direct>[number], AudienceServerFailed>(callServer, s, `/v1/audiences/${encodeURIComponent(o.id)}/history${q(o.tenant)}`, "versions"))
    if (o.format === "json") for (const v of versions) print(JSON.stringify(v))
    else print(formatRows(versions.map((v) => ({ version: v.version, at: v.at.replace("T", " ").slice(0, 19), by: v.actor, changed: v.changes.join("; "), note: v.note })), "table"))
  })

export const audienceMembersCmd = (o: Common & { readonly id: string; readonly after: string; readonly limit: number }) =>
  Effect.gen(function* () {
    // Bound to the audience and tenant as the server's are (ingest/audience-route.ts), so either one's cursor pages on.
    const direct = Effect.flatMap(membersCursorOrFail(o.after, o.tenant, o.id), (after) => boundMembers(o.tenant, o.id, after, o.limit))
      .pipe(Effect.provide(directLayer(o.backend)))
    const page = yield* directOrServer(o.backend, direct, (s) =>
      callServer<Effect.Success<typeof direct>>(s, "GET", `/v1/audiences/${encodeURIComponent(o.id)}/members${q(o.tenant, { after: o.after || undefined, limit: String(o.limit) })}`))
    if (o.format === "json") print(JSON.stringify(page))
    else {
      print(page.members.length === 0 ? "no members" : formatRows(page.members.map((m) => ({
        profile: m.profileId, since: m.since.replace("T", " ").slice(0, 19), why: m.why.map((w) => `${w.condition}${w.value === "" ? "" : ` (${w.value})`}`).join("; "),
      })), "table"))
      if (page.next !== null) print(`more: --after ${page.next}`)
    }
  })

export const audienceChanges = (o: Common & { readonly id: string; readonly cursor?: string; readonly limit: number }) =>
  Effect.gen(function* () {
    // Bound to the audience and tenant as the server's are (ingest/audience-route.ts), so either one's cursor pages on.
    const direct = Effect.flatMap(changesCursorOrFail(o.cursor, o.tenant, o.id), (after) => boundChangesSince(o.tenant, o.id, after, o.limit))
      .pipe(Effect.provide(directLayer(o.backend)))
    const page = yield* directOrServer(o.backend, direct, (s) =>
      callServer<Effect.Success<typeof direct>>(s, "GET", `/v1/audiences/${encodeURIComponent(o.id)}/changes${q(o.tenant, { cursor: o.cursor, limit: String(o.limit) })}`))
    if (o.format === "json") print(JSON.stringify(page))
    else {
      print(page.changes.length === 0 ? "no changes after this cursor" : formatRows(page.changes.map((c) => ({
        seq: c.seq, at: c.at.replace("T", " ").slice(0, 19), change: c.change, profile: c.profileId, cause: c.cause,
      })), "table"))
      print(`cursor: ${page.cursor === "" ? "(start)" : page.cursor}`)
    }
  })

/** Recomputes every audience now, emitting Audience Entered / Exited through the pipeline. */
export const audienceRefresh = (o: Omit<Common, "tenant"> & { readonly tenant?: string }) =>
  Effect.gen(function* () {
    const pipeline = yield* Pipeline
    const emit = (events: ReadonlyArray<CanonicalEvent>) => pipeline.submit(events, [], { archive: false })
    const s = yield* refreshAudiences({ ...(o.tenant === undefined ? {} : { tenant: o.tenant }), emit })
    show(o.format, s, () => [`${s.audiences} audience(s) refreshed in ${s.ms} ms: ${s.entered} entered, ${s.exited} exited`,
      ...(s.notRefreshed ?? []).map((n) => `${n.id} "${n.name}" (tenant ${n.tenant}) not refreshed: ${n.reason}`)].join("\n"))
  }).pipe(Effect.provide(pipelineLayer(o.backend)), Effect.provide(Layer.effect(ConsentPoliciesRef, readSetting(SETTINGS.consent))))

const wholeNumber = (min: number, max: number) => (value: string) => {
  const n = Number(value)
  if (!/^\d+$/.test(value) || n < min || n > max) throw new Error(`must be a whole number from ${min} to ${max}`)
  return n
}

/** `cdp audience ...`, added to the program. */
export const registerAudienceCommands = (program: Command, shared: {
  readonly dataDirOption: () => Option
  /** Turns a flag parser that throws into commander's one-line refusal. */
  readonly flagParser: <A>(parse: (value: string) => A) => (value: string) => A
}) => {
  const format = () => new Option("--format <format>", "output format").choices(["json", "table"]).default("table")
  const tenant = () => new Option("--tenant <tenant>", "tenant").default(DEFAULT_TENANT)
  const run = (main: Effect.Effect<unknown, unknown>) => runCommand(main.pipe(Effect.provide(commandLogger)))
  const common = (opts: { tenant: string; format: OutputFormat; dataDir?: string }) => ({ tenant: opts.tenant, format: opts.format, backend: backendConfig(opts.dataDir) })
  const audience = program.command("audience").description("audiences: who matches a condition and may be used for a purpose, kept current as events land")
  audience.addHelpText("after", `
A condition is JSON (identity/audiences/condition.schema.json): leaves test a profile, and/or/not combine them.
  {"trait": "plan", "equals": "pro"}     {"trait": "city", "in": ["Leeds", "York"]}     {"trait": "age", "compare": ">=", "value": 30}
  {"trait": "email", "exists": true}     {"event": "Order Completed", "channel": "web", "count": {"op": ">=", "value": 2}, "withinDays": 30}
  {"consent": "Advertising"}              {"relationship": {"in": ["loyal_quiet"]}}  {"health": {"op": "<", "value": 40}}
  {"churnRisk": {"op": ">", "value": 0.6}}   {"sentiment": {"of": "average", "withinDays": 30, "op": "<", "value": -0.2}}
  {"channel": "email", "withinDays": 90}  {"and": [...]}  {"or": [...]}  {"not": {...}}

Examples:
  $ npx cdp audience preview --purpose EmailMarketing --condition '{"event": "Order Completed", "withinDays": 30}'
  $ npx cdp audience create --name "Recent buyers" --purpose EmailMarketing --condition recent-buyers.json
  $ npx cdp audience changes aud_... --cursor CURSOR   (the cursor the previous changes printed)`)
  audience.command("create").description("save an audience (its members are found at the next refresh)")
    .requiredOption("--name <name>", "a name, unique in the tenant")
    .requiredOption("--purpose <purpose>", "the consent purpose its use serves: only profiles that may be used for it are members")
    .requiredOption("--condition <json|file>", "the condition, as JSON or a file holding it")
    .option("--note <text>", "why (kept in the history)", "")
    .addOption(tenant()).addOption(format()).addOption(shared.dataDirOption())
    .action((opts: { name: string; purpose: string; condition: string; note: string; tenant: string; format: OutputFormat; dataDir?: string }) =>
      run(audienceCreate({ ...common(opts), name: opts.name, purpose: opts.purpose, condition: opts.condition, note: opts.note })))
  audience.command("edit").description("save a new version: another name, purpose or condition (the history keeps every version)")
    .argument("<id>", "the audience id (aud_...)")
    .option("--name <name>", "a new name").option("--purpose <purpose>", "a new purpose").option("--condition <json|file>", "a new condition")
    .option("--note <text>", "why (kept in the history)", "")
    .addOption(tenant()).addOption(format()).addOption(shared.dataDirOption())
    .action((id: string, opts: { name?: string; purpose?: string; condition?: string; note: string; tenant: string; format: OutputFormat; dataDir?: string }) =>
      run(audienceEdit({ ...common(opts), id, ...opts, delete: false })))
  audience.command("delete").description("delete an audience: its members exit at the next refresh; its history and changes stay")
    .argument("<id>", "the audience id (aud_...)")
    .option("--note <text>", "why (kept in the history)", "")
    .addOption(tenant()).addOption(format()).addOption(shared.dataDirOption())
    .action((id: string, opts: { note: string; tenant: string; format: OutputFormat; dataDir?: string }) =>
      run(audienceEdit({ ...common(opts), id, note: opts.note, delete: true })))
  audience.command("preview").description("how many profiles match, a sample, and per sampled profile why it is in")
    .argument("[id]", "a saved audience (else --condition and --purpose)")
    .option("--condition <json|file>", "the condition, as JSON or a file holding it")
    .option("--purpose <purpose>", "the consent purpose")
    .option("--sample <n>", `profiles to show (0-${MAX_SAMPLE})`, shared.flagParser(wholeNumber(0, MAX_SAMPLE)), 10)
    .addOption(tenant()).addOption(format()).addOption(shared.dataDirOption())
    .action((id: string | undefined, opts: { condition?: string; purpose?: string; sample: number; tenant: string; format: OutputFormat; dataDir?: string }) =>
      run(audiencePreview({ ...common(opts), ...(id === undefined ? {} : { id }), ...(opts.condition === undefined ? {} : { condition: opts.condition }), ...(opts.purpose === undefined ? {} : { purpose: opts.purpose }), sample: opts.sample })))
  audience.command("list").description("the tenant's audiences with their member counts")
    .addOption(tenant()).addOption(format()).addOption(shared.dataDirOption())
    .action((opts: { tenant: string; format: OutputFormat; dataDir?: string }) => run(audienceList(common(opts))))
  audience.command("show").description("one audience: purpose, condition, members, last edit").argument("<id>", "the audience id (aud_...)")
    .addOption(tenant()).addOption(format()).addOption(shared.dataDirOption())
    .action((id: string, opts: { tenant: string; format: OutputFormat; dataDir?: string }) => run(audienceShow({ ...common(opts), id })))
  audience.command("history").description("every version of an audience: who changed what, when").argument("<id>", "the audience id (aud_...)")
    .addOption(tenant()).addOption(format()).addOption(shared.dataDirOption())
    .action((id: string, opts: { tenant: string; format: OutputFormat; dataDir?: string }) => run(audienceHistoryCmd({ ...common(opts), id })))
  audience.command("members").description("the members now, with when each entered and why").argument("<id>", "the audience id (aud_...)")
    .option("--after <cursor>", "the next page: the cursor the previous page printed (none: from the start)", "")
    .option("--limit <n>", `members per page (1-${MAX_CHANGES_LIMIT})`, shared.flagParser(wholeNumber(1, MAX_CHANGES_LIMIT)), 100)
    .addOption(tenant()).addOption(format()).addOption(shared.dataDirOption())
    .action((id: string, opts: { after: string; limit: number; tenant: string; format: OutputFormat; dataDir?: string }) =>
      run(audienceMembersCmd({ ...common(opts), id, after: opts.after, limit: opts.limit })))
  audience.command("changes").description("the feed of entries and exits with their time and cause, after a cursor").argument("<id>", "the audience id (aud_...)")
    .option("--cursor <cursor>", "the cursor of the previous page (none: from the start)")
    .option("--limit <n>", `changes per page (1-${MAX_CHANGES_LIMIT})`, shared.flagParser(wholeNumber(1, MAX_CHANGES_LIMIT)), 100)
    .addOption(tenant()).addOption(format()).addOption(shared.dataDirOption())
    .action((id: string, opts: { cursor?: string; limit: number; tenant: string; format: OutputFormat; dataDir?: string }) =>
      run(audienceChanges({ ...common(opts), id, ...(opts.cursor === undefined ? {} : { cursor: opts.cursor }), limit: opts.limit })))
  audience.command("refresh").description("recompute every audience now and record entries and exits (cdp serve does it as events land)")
    .option("--tenant <tenant>", "only this tenant's audiences")
    .addOption(format()).addOption(shared.dataDirOption())
    .action((opts: { tenant?: string; format: OutputFormat; dataDir?: string }) =>
      run(audienceRefresh({ format: opts.format, backend: backendConfig(opts.dataDir), ...(opts.tenant === undefined ? {} : { tenant: opts.tenant }) })))
}
