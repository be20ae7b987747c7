// An audience: an id, a name, the purpose its members must consent to, a condition, and an edit history (every
// saved version, with who saved it, when and what changed). Stored in audience_versions (warehouse/audiences.ts).
import { randomBytes } from "node:crypto"
import { Context, Data, Effect } from "effect"
import { ConsentPoliciesRef, policyOf } from "../../consent/index.ts"
import { audienceVersions, audienceVersionsPage, insertAudienceVersion, latestAudienceVersions, memberCounts, type VersionRow } from "../../warehouse/audiences.ts"
import { labelProblem, normaliseLabel } from "../../warehouse/labels.ts"
import { ConditionInvalid, type Condition, type Node, parseCondition, unknownChannel } from "./condition.ts"

export class AudienceInvalid extends Data.TaggedError("AudienceInvalid")<{
  /** The field at fault: "name", "purpose", "condition/and/0" (a JSON pointer inside the condition), ... */
  readonly field: string
  readonly reason: string
  /** Set for a purpose the tenant does not have (the audience's, or a consent leaf's): the API's `bad_purpose`. */
  readonly rule?: "bad_purpose"
}> {
  override get message() {
    return `${this.field}: ${this.reason}`
  }
  static fromCondition(e: ConditionInvalid, field = "condition") {
    return new AudienceInvalid({ field: `${field}${e.pointer}`, reason: e.reason })
  }
}

/** A tenant has as many audiences as it may have (CDP_MAX_AUDIENCES): no more are created until one is deleted. */
export class AudienceLimitReached extends Data.TaggedError("AudienceLimitReached")<{ readonly tenant: string; readonly limit: number }> {
  override get message() {
    return `tenant "${this.tenant}" already has ${this.limit} audiences, the most it may have (CDP_MAX_AUDIENCES); delete one first`
  }
}

export const DEFAULT_MAX_AUDIENCES = 1000

/** A new name (or a rename) that cannot be told apart from another audience's of the tenant (foldedName). */
export class AudienceNameTaken extends Data.TaggedError("AudienceNameTaken")<{
  readonly tenant: string
  readonly wanted: string
  readonly existingId: string
  readonly existingName: string
}> {
  override get message() {
    const q = (text: string) => JSON.stringify(text.length <= 80 ? text : `${text.slice(0, 80)}…`)
    return `tenant "${this.tenant}" already has an audience named ${q(this.existingName)} (${this.existingId}), which ${q(this.wanted)} cannot be told ` +
      `apart from in a list (names are compared with case, character width and spacing set aside): choose another name, or edit or delete that audience`
  }
}

/**
 * Audiences a tenant may have (CDP_MAX_AUDIENCES): each is evaluated as events land, so without a cap one tenant could
 * make the refresher's work, and GET /v1/audiences, grow without end.
 */
export const MaxAudiencesRef = Context.Reference<number>("cdp/MaxAudiences", { defaultValue: () => DEFAULT_MAX_AUDIENCES })

export class AudienceNotFound extends Data.TaggedError("AudienceNotFound")<{ readonly tenant: string; readonly id: string }> {
  override get message() {
    return `no audience "${this.id}" in tenant "${this.tenant}" (cdp audience list shows them)`
  }
}

/**
 * A saved audience's purpose (or a consent condition's) was removed from the tenant's consent policy since it was
 * saved: it is not evaluated or exported until an edit gives it a purpose the tenant has.
 */
export class AudienceUnusable extends Data.TaggedError("AudienceUnusable")<{
  readonly tenant: string
  readonly id: string
  readonly name: string
  readonly field: string
  readonly reason: string
}> {
  override get message() {
    return `audience ${this.id} "${this.name.slice(0, 60)}" cannot be used: ${this.reason}`
  }
}

/** Why a saved audience cannot be used now (AudienceUnusable's field and reason). */
export interface AudienceProblem {
  readonly field: string
  readonly reason: string
}

export interface Audience {
  readonly id: string
  readonly tenant: string
  readonly name: string
  readonly purpose: string
  readonly condition: Condition
  readonly version: number
  readonly deleted: boolean
  readonly updatedAt: string
  readonly updatedBy: string
  /** Set when the tenant's consent policy no longer has the audience's purpose (or a consent condition's). */
  readonly invalid?: AudienceProblem
}

export interface AudienceVersion {
  readonly version: number
  readonly at: string
  readonly actor: string
  /** What changed from the version before, in words ("created", "name: A -> B", "condition", "deleted"). */
  readonly changes: ReadonlyArray<string>
  readonly note: string
  readonly name: string
  readonly purpose: string
  readonly condition: Condition
  readonly deleted: boolean
}

const iso = (ms: string | number) => new Date(Number(ms)).toISOString()

const toAudience = (r: VersionRow): Audience => ({
  id: r.audience_id, tenant: r.tenant, name: r.name, purpose: r.purpose, condition: JSON.parse(r.condition) as Condition,
  version: Number(r.version), deleted: Number(r.deleted) === 1, updatedAt: iso(r.at), updatedBy: r.actor,
})

const ID = /^aud_[A-Za-z0-9]{1,40}$/

export const isAudienceId = (id: string) => ID.test(id)

const newId = () => `aud_${randomBytes(9).toString("base64url").replace(/[-_]/g, "x")}`

/**
 * What a list does not show: default-ignorable characters left after labelProblem (a Hangul filler, a variation
 * selector, the combining grapheme joiner: letters and marks, not format characters) and blanks (white space, the
 * braille blank U+2800).
 */
const UNSEEN = /\p{Default_Ignorable_Code_Point}/gu
const BLANKS = /[\s\u2800]+/gu

/**
 * A name as people tell names apart in a list: compatibility forms as their letters (NFKC: fullwidth "Ｐｒｏ", the
 * ligature "ﬁ", a no-break space), case folded (upper then lower case: "Straße" is "STRASSE"), what shows nothing
 * left out (UNSEEN) and runs of blanks as one. Names saved before this rule may share one; a new name or a rename
 * may not (nameTaken).
 */
export const foldedName = (name: string): string =>
  name.normalize("NFKC").toUpperCase().toLowerCase().normalize("NFKC").replace(UNSEEN, "").replace(BLANKS, " ").trim()

/** The tenant's audience (not deleted, other than `self`) whose name folds as `name` does, as AudienceNameTaken. */
const nameTaken = (tenant: string, name: string, rows: ReadonlyArray<VersionRow>, self?: string): AudienceNameTaken | undefined => {
  const folded = foldedName(name)
  const taken = rows.find((r) => Number(r.deleted) === 0 && r.audience_id !== self && foldedName(r.name) === folded)
  return taken === undefined ? undefined : new AudienceNameTaken({ tenant, wanted: name, existingId: taken.audience_id, existingName: taken.name })
}

/**
 * Combining marks one character of a name may carry: scripts write up to about four (Vietnamese two, Hebrew with
 * points and cantillation, Tibetan stacks); a hundred are drawn as a tower over the rows around the name in a list.
 */
const MAX_MARKS = 8
const MARK_RUN = new RegExp(`\\P{M}\\p{M}{${MAX_MARKS + 1},}`, "u")

/** Why a name (composed, NFC) stacks too many marks on one character, naming where, or undefined. */
const stackedMarks = (name: string): string | undefined => {
  const run = MARK_RUN.exec(name)
  if (run === null) return undefined
  const at = [...name.slice(0, run.index)].length + 1
  return `name has more than ${MAX_MARKS} combining marks on one character (at character ${at}): no script writes so many, and a list draws them over the names around it`
}

/** Checks a name. */
const checkName = (name: unknown): string | AudienceInvalid => {
  if (typeof name !== "string" || name.trim() === "") return new AudienceInvalid({ field: "name", reason: "must be a non-empty string" })
  if (name.length > 200) return new AudienceInvalid({ field: "name", reason: "may be at most 200 characters" })
  const problem = labelProblem(name) ?? stackedMarks(normaliseLabel(name))
  if (problem !== undefined) return new AudienceInvalid({ field: "name", reason: problem })
  if (foldedName(name) === "") return new AudienceInvalid({ field: "name", reason: "must hold a visible character" })
  return normaliseLabel(name).trim()
}

/** A note kept with a version (why it was saved): read in the history, so bounded and free of what would disturb it. */
const NOTE_MAX = 2000
const checkNote = (note: string): AudienceInvalid | undefined => {
  if (note.length > NOTE_MAX) return new AudienceInvalid({ field: "note", reason: `may be at most ${NOTE_MAX} characters (this one has ${note.length})` })
  const problem = labelProblem(note.replace(/[\n\t]/g, " "), "note")
  return problem === undefined ? undefined : new AudienceInvalid({ field: "note", reason: problem })
}

/** A purpose as a refusal quotes it: JSON-quoted, cut to 80 characters. */
const quotedPurpose = (purpose: string) => JSON.stringify(purpose.length <= 80 ? purpose : `${purpose.slice(0, 80)}…`)

/** The refusal of a purpose the tenant does not have, at `field`: the same words for the audience's and a consent leaf's. */
const unknownPurpose = (tenant: string, purpose: unknown, known: ReadonlyArray<string>, field: string) =>
  new AudienceInvalid({
    field, rule: "bad_purpose",
    reason: `${typeof purpose === "string" ? `${quotedPurpose(purpose)} is not` : "must be"} a purpose of tenant "${tenant}" (purposes: ${known.join(", ")})`,
  })

/** Checks a purpose against the tenant's consent policy. */
export const checkPurpose = (tenant: string, purpose: unknown) =>
  Effect.gen(function* () {
    const policy = policyOf(yield* ConsentPoliciesRef, tenant)
    if (typeof purpose !== "string" || policy.purposes[purpose] === undefined) return unknownPurpose(tenant, purpose, Object.keys(policy.purposes), "purpose")
    return purpose
  })

/** Why a saved audience cannot be used under the tenant's consent policy now, or undefined. */
export const audienceProblem = (a: Audience) =>
  Effect.gen(function* () {
    if (a.deleted) return undefined
    const policy = policyOf(yield* ConsentPoliciesRef, a.tenant)
    const known = Object.keys(policy.purposes).join(", ")
    if (policy.purposes[a.purpose] === undefined) {
      return {
        field: "purpose",
        reason: `its purpose "${a.purpose.slice(0, 60)}" is no longer a purpose of tenant "${a.tenant}" (purposes: ${known}): change its purpose to one of them`,
      } satisfies AudienceProblem
    }
    const condition = yield* checkCondition(a.tenant, a.condition, true)
    if (condition instanceof AudienceInvalid) return { field: condition.field, reason: `${condition.field}: ${condition.reason}: change its condition` } satisfies AudienceProblem
    return undefined
  })

/** The audience with `invalid` set when it cannot be used now. */
const checked = (a: Audience) => Effect.map(audienceProblem(a), (invalid): Audience => (invalid === undefined ? a : { ...a, invalid }))

/** Fails with AudienceUnusable when the audience cannot be evaluated or exported now. */
export const refuseUnusable = (a: Audience) =>
  Effect.flatMap(audienceProblem(a), (p) => p === undefined ? Effect.void
    : Effect.fail(new AudienceUnusable({ tenant: a.tenant, id: a.id, name: a.name, field: p.field, reason: p.reason })))

/**
 * The parsed condition, refusing purposes the tenant does not have in consent leaves as well, and (unless `saved`: a
 * stored audience's own condition, checked again to be used) channels there are not: one saved before they were
 * checked still loads, and its leaf matches nobody.
 */
export const checkCondition = (tenant: string, condition: unknown, saved = false) =>
  Effect.gen(function* () {
    const parsed = parseCondition(condition)
    if (parsed instanceof ConditionInvalid) return AudienceInvalid.fromCondition(parsed)
    const channel = saved ? undefined : unknownChannel(parsed)
    if (channel !== undefined) return AudienceInvalid.fromCondition(channel)
    const policy = policyOf(yield* ConsentPoliciesRef, tenant)
    const check = (n: Node): AudienceInvalid | undefined => {
      if (n.kind === "and" || n.kind === "or") {
        for (const i of n.items) {
          const e = check(i)
          if (e !== undefined) return e
        }
        return undefined
      }
      if (n.kind === "not") return check(n.item)
      if (n.kind === "consent") {
        const p = (n.leaf as { consent: string }).consent
        if (policy.purposes[p] === undefined) return unknownPurpose(tenant, p, Object.keys(policy.purposes), `condition${n.pointer}/consent`)
      }
      return undefined
    }
    return check(parsed) ?? parsed
  })

export interface AudienceInput {
  readonly name: string
  readonly purpose: string
  readonly condition: unknown
}

/** Reads every audience of a tenant (deleted ones left out unless asked). */
export const listAudiences = Effect.fn("listAudiences")(function* (tenant: string | undefined, options?: { readonly deleted?: boolean }) {
  const rows = yield* latestAudienceVersions(tenant)
  const counts = yield* memberCounts(tenant)
  return withMembers(yield* Effect.forEach(rows.map(toAudience).filter((a) => options?.deleted === true || !a.deleted), checked), counts)
})

const withMembers = (audiences: ReadonlyArray<Audience>, counts: ReadonlyMap<string, number>) =>
  audiences.map((a) => ({ ...a, members: counts.get(`${a.tenant}\u0000${a.id}`) ?? 0 }))

/** Audiences a list page may hold (GET /v1/audiences?limit=). */
export const MAX_AUDIENCE_PAGE = 1000

/** A page of a tenant's audiences by id after `after` ("" for the first), deleted ones left out, with their member counts. */
export const listAudiencesPage = Effect.fn("listAudiencesPage")(function* (tenant: string, after: string, limit: number) {
  const rows = yield* audienceVersionsPage(tenant, after, limit)
  const counts = rows.length === 0 ? new Map<string, number>() : yield* memberCounts(tenant, rows.map((r) => r.audience_id))
  return withMembers(yield* Effect.forEach(rows.map(toAudience), checked), counts)
})

/** One audience, or AudienceNotFound (also for a deleted one). */
export const getAudience = Effect.fn("getAudience")(function* (tenant: string, id: string) {
  const versions = isAudienceId(id) ? yield* audienceVersions(tenant, id) : []
  const latest = versions.at(-1)
  if (latest === undefined || Number(latest.deleted) === 1) return yield* Effect.fail(new AudienceNotFound({ tenant, id }))
  return yield* checked(toAudience(latest))
})

/**
 * Fails with AudienceNotFound unless the tenant has or had (deleted: its feed is still read) the audience `id`.
 * Another tenant's audience is answered as an id nobody has, so whether it exists is not told.
 */
export const audienceOfTenant = Effect.fn("audienceOfTenant")(function* (tenant: string, id: string) {
  if (!isAudienceId(id)) return yield* Effect.fail(new AudienceNotFound({ tenant, id }))
  const known = yield* Effect.exit(getAudience(tenant, id))
  if (known._tag === "Success") return
  const all = yield* allAudiencesForRefresh(tenant)
  if (!all.some((a) => a.id === id)) return yield* Effect.fail(new AudienceNotFound({ tenant, id }))
})

/** Creates an audience; its members are found by the next refresh. */
export const createAudience = Effect.fn("createAudience")(function* (tenant: string, input: AudienceInput, actor: string, note = "") {
  const badNote = checkNote(note)
  if (badNote !== undefined) return yield* Effect.fail(badNote)
  const name = checkName(input.name)
  if (name instanceof AudienceInvalid) return yield* Effect.fail(name)
  const purpose = yield* checkPurpose(tenant, input.purpose)
  if (purpose instanceof AudienceInvalid) return yield* Effect.fail(purpose)
  const condition = yield* checkCondition(tenant, input.condition)
  if (condition instanceof AudienceInvalid) return yield* Effect.fail(condition)
  const existing = (yield* latestAudienceVersions(tenant)).filter((r) => Number(r.deleted) === 0)
  const taken = nameTaken(tenant, name, existing)
  if (taken !== undefined) return yield* Effect.fail(taken)
  const limit = yield* MaxAudiencesRef
  if (existing.length >= limit) return yield* Effect.fail(new AudienceLimitReached({ tenant, limit }))
  const id = newId()
  yield* insertAudienceVersion({
    tenant, audience_id: id, version: 1, name, purpose, condition: JSON.stringify(input.condition), deleted: 0, actor, note, atMs: Date.now(),
  })
  return yield* getAudience(tenant, id)
})

/** JSON with every object's keys in order: the same condition written with its keys in another order is the same. */
const canonical = (value: unknown): string => JSON.stringify(value, (_k, v: unknown) =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v)

/**
 * Saves a new version with the fields given changed (a name, a purpose, a condition), or deletes the audience. An
 * edit that changes nothing saves no version: the audience is answered as it is, with `unchanged: true`.
 */
export const editAudience = Effect.fn("editAudience")(function* (
  tenant: string, id: string, edit: Partial<AudienceInput> & { readonly delete?: boolean }, actor: string, note = "",
) {
  const badNote = checkNote(note)
  if (badNote !== undefined) return yield* Effect.fail(badNote)
  const current = yield* getAudience(tenant, id)
  const name = edit.name === undefined ? current.name : checkName(edit.name)
  if (name instanceof AudienceInvalid) return yield* Effect.fail(name)
  const purpose = edit.purpose === undefined ? current.purpose : yield* checkPurpose(tenant, edit.purpose)
  if (purpose instanceof AudienceInvalid) return yield* Effect.fail(purpose)
  // An audience whose purpose was removed is saved again only with one the tenant has (it may still be deleted).
  const invalid = current.invalid
  if (invalid !== undefined && edit.delete !== true
    && (invalid.field === "purpose" ? edit.purpose === undefined : edit.condition === undefined)) {
    return yield* Effect.fail(new AudienceInvalid({ field: invalid.field, reason: invalid.reason }))
  }
  if (edit.condition !== undefined) {
    const condition = yield* checkCondition(tenant, edit.condition)
    if (condition instanceof AudienceInvalid) return yield* Effect.fail(condition)
  }
  const taken = name === current.name ? undefined : nameTaken(tenant, name, yield* latestAudienceVersions(tenant), id)
  if (taken !== undefined) return yield* Effect.fail(taken)
  if (edit.delete !== true && name === current.name && purpose === current.purpose
    && (edit.condition === undefined || canonical(edit.condition) === canonical(current.condition))) {
    return { ...current, unchanged: true as const }
  }
  yield* insertAudienceVersion({
    tenant, audience_id: id, version: current.version + 1, name, purpose,
    condition: JSON.stringify(edit.condition ?? current.condition), deleted: edit.delete === true ? 1 : 0, actor, note, atMs: Date.now(),
  })
  if (edit.delete === true) return { ...current, deleted: true, version: current.version + 1 }
  return yield* getAudience(tenant, id)
})

/** The versions of an audience (every one, or at most `limit` after version `after`) with what changed from the one before. */
export const audienceHistory = Effect.fn("audienceHistory")(function* (
  tenant: string, id: string, page?: { readonly after: number; readonly limit: number },
) {
  // A page after version N reads N too: what the first version shown changed is told against it.
  const after = page?.after ?? 0
  const rows = isAudienceId(id) ? yield* audienceVersions(tenant, id, Math.max(1, after), page === undefined ? undefined : page.limit + (after > 0 ? 1 : 0)) : []
  if (rows.length === 0) return yield* Effect.fail(new AudienceNotFound({ tenant, id }))
  return rows.flatMap((r, i): Array<AudienceVersion> => {
    if (Number(r.version) <= after) return []
    const before = rows[i - 1]
    const changes: Array<string> = []
    if (before === undefined) changes.push("created")
    else {
      if (before.name !== r.name) changes.push(`name: ${JSON.stringify(before.name)} -> ${JSON.stringify(r.name)}`)
      if (before.purpose !== r.purpose) changes.push(`purpose: ${before.purpose} -> ${r.purpose}`)
      if (before.condition !== r.condition) changes.push(`condition: ${before.condition} -> ${r.condition}`)
      if (Number(before.deleted) !== Number(r.deleted)) changes.push(Number(r.deleted) === 1 ? "deleted" : "restored")
      if (changes.length === 0) changes.push("saved unchanged")
    }
    return [{
      version: Number(r.version), at: iso(r.at), actor: r.actor, changes, note: r.note, name: r.name, purpose: r.purpose,
      condition: JSON.parse(r.condition) as Condition, deleted: Number(r.deleted) === 1,
    }]
  })
})

/** Every stored audience version, latest per audience (all tenants): what a refresh works through. */
export const allAudiencesForRefresh = Effect.fn("allAudiencesForRefresh")(function* (tenant?: string) {
  return (yield* latestAudienceVersions(tenant)).map(toAudience)
})
