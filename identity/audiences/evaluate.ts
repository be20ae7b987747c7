// Evaluating an audience: its condition and purpose become one query (warehouse/audiences.ts) whose consent part is
// consent/'s own filter (consentingProfilesSql), so only profiles the purpose may use can ever be members. A preview
// gives the count, a sample, and per sampled profile why it is in: each condition with whether it matched and the
// value it saw.
import { Effect } from "effect"
import { consentingProfilesSql } from "../../consent/index.ts"
import { type AudienceRow, type AudienceSqlInput, type ConsentFilter, type Mode, runAudienceQuery } from "../../warehouse/audiences.ts"
import { type Condition, describeLeaf, type LeafNode, leavesOf, type Node } from "./condition.ts"

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
  readonly sample: ReadonlyArray<Explained>
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

export const explainRow = (row: AudienceRow, leaves: ReadonlyArray<LeafNode>): Explained => ({
  profileId: row.profile_id,
  conditions: leaves.map((l) => ({
    pointer: l.pointer, condition: describeLeaf(l), matched: Number(row[`__m${l.index}`]) === 1, value: String(row[`__v${l.index}`] ?? ""),
  })),
})

/** Runs the audience's query in a mode. */
export const evaluate = Effect.fn("evaluateAudience")(function* (tenant: string, purpose: string, condition: Node, mode: Mode, asOfMs?: number) {
  const { input, leaves } = yield* queryInput(tenant, purpose, condition, asOfMs)
  const rows = yield* runAudienceQuery(input, mode)
  return { rows, leaves }
})

export const MAX_SAMPLE = 1000

/** Count, sample and per sampled profile why it is in. */
export const previewAudience = Effect.fn("previewAudience")(function* (tenant: string, purpose: string, condition: Node, sample = 10, asOfMs = Date.now()) {
  const { rows, leaves } = yield* evaluate(tenant, purpose, condition, { kind: "sample", limit: Math.max(1, Math.min(sample, MAX_SAMPLE)) }, asOfMs)
  return {
    count: rows.length === 0 ? 0 : Number(rows[0]!.total),
    sample: (sample === 0 ? [] : rows).map((r) => explainRow(r, leaves)),
    asOf: new Date(asOfMs).toISOString(),
  } satisfies Preview
})

export type { Condition }
