// Evaluating an audience: its condition and purpose become one query (warehouse/audiences.ts) whose consent part is
// consent/'s own filter (consentingProfilesSql), so only profiles the purpose may use can ever be members. A preview
// gives the count, a sample, and per sampled profile why it is in: each condition with whether it matched and the
// value it saw.
import { Effect } from "effect"
import { consentingProfilesSql } from "../../consent/index.ts"
import { type AudienceRow, type AudienceSqlInput, type ConsentFilter, type Mode, runAudienceQuery } from "../../warehouse/audiences.ts"
import { type Condition, describeLeaf, type LeafNode, leavesOf, type Node } from "./condition.ts"
import { cutText, PREVIEW_TEXT_CHARS } from "../cut-text.ts"

export interface LeafResult {
  /** JSON pointer of the condition inside the audience's condition. */
  readonly pointer: string
  readonly condition: string
  readonly matched: boolean
  /** The value it saw: a trait's JSON text, a count, a score, a relationship type ("" when none). */
  readonly value: string
}

export interface Explained {
  readonly profileId: string
  /** Every leaf condition, matched or not (a member of an "or" needs only one). */
  readonly conditions: ReadonlyArray<LeafResult>
}

export interface Preview {
  readonly count: number
  /** The sample; its first `explained` profiles carry their conditions, the rest only their id (conditions empty). */
  readonly sample: ReadonlyArray<Explained>
  readonly explained: number
  readonly asOf: string
}

/** The query's input: the tenant, the parsed condition and consent's filter for the purpose and each consent leaf. */
export const queryInput = Effect.fn("audienceQueryInput")(function* (tenant: string, purpose: string, condition: Node, asOfMs = Date.now()) {
  const leaves = leavesOf(condition)
  const consentLeaves = new Map<number, ConsentFilter>()
  for (const l of leaves) {
    if (l.kind === "consent") consentLeaves.set(l.index, yield* consentingProfilesSql(tenant, (l.leaf as { consent: string }).consent))
  }
  const input: AudienceSqlInput = { tenant, condition, purpose: yield* consentingProfilesSql(tenant, purpose), consentLeaves, asOfMs }
  return { input, leaves }
})

/**
 * Why a profile is in or out, as the refresher stores it (a member's why, a change's cause, the event it emits): each
 * condition's text and value seen cut at PREVIEW_TEXT_CHARS, as a preview shows them (a 60,000-character trait was
 * stored whole in all three, and answered whole by every page of members and changes).
 */
export const explainRow = (row: AudienceRow, leaves: ReadonlyArray<LeafNode>): Explained => ({
  profileId: row.profile_id,
  conditions: leaves.map((l) => ({
    pointer: l.pointer, condition: cut(describeLeaf(l)), matched: Number(row[`__m${l.index}`]) === 1, value: cut(String(row[`__v${l.index}`] ?? "")),
  })),
})

/** Runs the audience's query in a mode. */
export const evaluate = Effect.fn("evaluateAudience")(function* (tenant: string, purpose: string, condition: Node, mode: Mode, asOfMs?: number) {
  const { input, leaves } = yield* queryInput(tenant, purpose, condition, asOfMs)
  const rows = yield* runAudienceQuery(input, mode)
  return { rows, leaves }
})

export const MAX_SAMPLE = 1000

/**
 * The most leaf results (sampled profiles explained x leaves) one preview gives: a sample of 1,000 of a 200-node
 * condition repeated every condition for every profile (35 MB). A condition of up to 10 leaves is explained for a
 * whole sample of 1,000; a wider one for the first profiles of the sample (at least one).
 */
export const MAX_EXPLAINED_RESULTS = 10_000

// A condition's text or a value seen, in a preview or as the refresher stores it: cut at PREVIEW_TEXT_CHARS (its pointer
// names the condition in full).
export { PREVIEW_TEXT_CHARS }
const cut = cutText

/** Count, sample and why its first profiles are in (MAX_EXPLAINED_RESULTS), texts cut to PREVIEW_TEXT_CHARS. */
export const previewAudience = Effect.fn("previewAudience")(function* (tenant: string, purpose: string, condition: Node, sample = 10, asOfMs = Date.now()) {
  const { rows, leaves } = yield* evaluate(tenant, purpose, condition, { kind: "sample", limit: Math.max(1, Math.min(sample, MAX_SAMPLE)) }, asOfMs)
  const shown = sample === 0 ? [] : rows
  const explained = Math.min(shown.length, Math.max(1, Math.floor(MAX_EXPLAINED_RESULTS / Math.max(1, leaves.length))))
  // Each leaf's text once, not once per profile.
  const described = leaves.map((l) => ({ pointer: l.pointer, condition: cut(describeLeaf(l)), column: `__v${l.index}`, matched: `__m${l.index}` }))
  return {
    count: rows.length === 0 ? 0 : Number(rows[0]!.total),
    sample: shown.map((r, i): Explained => ({
      profileId: r.profile_id,
      conditions: i >= explained ? [] : described.map((d) => ({
        pointer: d.pointer, condition: d.condition, matched: Number(r[d.matched]) === 1, value: cut(String(r[d.column] ?? "")),
      })),
    })),
    explained,
    asOf: new Date(asOfMs).toISOString(),
  } satisfies Preview
})

export type { Condition }
