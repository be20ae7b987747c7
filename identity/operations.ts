// What operators decide about identity (link two identifiers, keep two apart, remove one from linking, dismiss a
// suggestion), stored in identity_operations, and how those decisions enter the graph: a link is one more
// observation (rule "operator"), the others are the resolver's decisions. Applying one rebuilds the tenant's graph.
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import type { OperationRow } from "../warehouse/identity.ts"
import { loadObservationsPage, loadOperations, storeOperation } from "../warehouse/identity.ts"
import type { NodeKey, Observation, Sighting } from "./graph.ts"
import type { CompiledBlockRules } from "./guardrails.ts"
import { kindOf, OPERATOR } from "./graph.ts"
import type { OperatorDecisions } from "./resolver.ts"
import { eachStep, inSlices } from "./slices.ts"

/** An operation to record; `actor` says who decided ("" when not known). */
export type Operation = Pick<OperationRow, "tenant" | "kind" | "a" | "b" | "reason"> & { readonly actor?: string }

const sightingOf = (key: NodeKey): Sighting => ({ kind: kindOf(key), value: key.slice(key.indexOf(":") + 1), trust: "verified" })

/** Per tenant, the decisions and the operator links (as observations) of the stored operations, oldest first. */
export const operatorInput = (operations: ReadonlyArray<OperationRow>) => {
  const decisions = new Map<string, { removed: Map<NodeKey, string>; separate: Array<readonly [NodeKey, NodeKey]> }>()
  const links = new Map<string, Array<Observation>>()
  for (const op of operations) {
    let d = decisions.get(op.tenant)
    if (d === undefined) decisions.set(op.tenant, d = { removed: new Map(), separate: [] })
    switch (op.kind) {
      case "remove":
        d.removed.set(op.a, `removed from linking by an operator: ${op.reason}`)
        break
      case "separate":
        d.separate.push([op.a, op.b])
        break
      case "link":
        if (!links.has(op.tenant)) links.set(op.tenant, [])
        links.get(op.tenant)!.push({ messageId: `${OPERATOR}${op.opId}`, timeMs: op.atMs, sightings: [sightingOf(op.a), sightingOf(op.b)] })
        break
      case "dismiss":
        break
    }
  }
  return { decisions: decisions as ReadonlyMap<string, OperatorDecisions>, links }
}

/**
 * Stored observations read at a time: the warehouse makes an answer into rows in one go, which a page keeps to tens
 * of milliseconds (a tenant's whole history in one answer held the server's event loop for as long).
 */
const GRAPH_INPUT_PAGE = 20_000

/**
 * Everything the graph is made of: stored observations (or those given, as a rebuild reads them again) and operators'
 * decisions, per tenant. Read page by page (only the tenant's, given one) and gone through in slices
 * (identity/slices.ts): it is a tenant's whole history.
 */
export const loadGraphInput = Effect.fn("loadGraphInput")(function* (
  onlyTenant?: string,
  blocked?: CompiledBlockRules,
  given?: ReadonlyArray<Observation & { readonly tenant: string }>,
) {
  const observations = new Map<string, Array<Observation>>()
  const add = (stored: {
    readonly tenant: string; readonly messageId: string; readonly timeMs: number
    readonly sightings: ReadonlyArray<{ readonly kind: string; readonly value: string; readonly trust: string }>
  }) => {
    if (onlyTenant !== undefined && stored.tenant !== onlyTenant) return
    // Block rules apply to what was stored before they were added: a value blocked later links nothing.
    const o = blocked === undefined ? stored : { ...stored, sightings: stored.sightings.filter((s) => blocked.reasonFor(s.kind as never, s.value, stored.tenant) === undefined) }
    const list = observations.get(o.tenant)
    if (list === undefined) observations.set(o.tenant, [o as Observation])
    else list.push(o as Observation)
  }
  if (given !== undefined) yield* inSlices(eachStep(given, add))
  else {
    let after: { tenant: string; messageId: string } | undefined
    for (;;) {
      const page = yield* loadObservationsPage(after, GRAPH_INPUT_PAGE, onlyTenant)
      yield* inSlices(eachStep(page, add))
      if (page.length < GRAPH_INPUT_PAGE) break
      after = { tenant: page[page.length - 1]!.tenant, messageId: page[page.length - 1]!.messageId }
    }
  }
  const operations = (yield* loadOperations()).filter((op) => onlyTenant === undefined || op.tenant === onlyTenant)
  const { decisions, links } = operatorInput(operations)
  for (const [tenant, extra] of links) {
    if (!observations.has(tenant)) observations.set(tenant, [])
    for (const o of extra) observations.get(tenant)!.push(o)
  }
  return { observations, decisions, operations }
})

/** Records an operation (it takes effect at the next rebuild or reload of the graph). */
export const recordOperation = Effect.fn("recordOperation")(function* (op: Operation) {
  const row: OperationRow = { ...op, actor: op.actor ?? "", opId: randomUUID(), atMs: Date.now() }
  yield* storeOperation(row)
  return row
})

