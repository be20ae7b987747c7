// `cdp identity explain A B`: the chain of links that makes two identifiers one person, each link with the message
// that stated both, when, by which rule and trust; or, when they are two people, why (refused links with their
// reasons, shared values, or simply no message that states both).
import { Effect } from "effect"
import { linksTouching, profileNodes, type StoredLink } from "../warehouse/identity.ts"
import { baseOf, nodeKey } from "./graph.ts"
import { type IdentifierRef, profileIdOf } from "./profile.ts"

export interface ExplainedLink {
  readonly a: string
  readonly b: string
  readonly messageId: string
  readonly timestamp: string
  readonly rule: string
  readonly trust: string
  readonly reason: string
}

export type Explanation =
  | { readonly joined: true; readonly profileId: string; readonly chain: ReadonlyArray<ExplainedLink> }
  | {
    readonly joined: false
    readonly profiles: readonly [string, string]
    readonly refused: ReadonlyArray<ExplainedLink>
    readonly shared: ReadonlyArray<{ readonly identifier: string; readonly reason: string }>
    readonly why: string
  }

const explained = (l: StoredLink): ExplainedLink =>
  ({ a: baseOf(l.a), b: baseOf(l.b), messageId: l.message_id, timestamp: l.timestamp, rule: l.rule, trust: l.trust, reason: l.reason })

const keyOf = (n: { kind: string; value: string; slice: number }) =>
  Number(n.slice) === 0 ? nodeKey(n.kind as never, n.value) : `${nodeKey(n.kind as never, n.value)}\u001f${n.slice}`

/** Shortest chain of holding links from one node to another (breadth first). */
const chainBetween = (links: ReadonlyArray<StoredLink>, from: ReadonlySet<string>, to: ReadonlySet<string>): Array<StoredLink> | undefined => {
  const next = new Map<string, Array<StoredLink>>()
  for (const l of links) {
    if (l.status !== "linked") continue
    for (const x of [l.a, l.b]) {
      const list = next.get(x)
      if (list === undefined) next.set(x, [l])
      else list.push(l)
    }
  }
  const via = new Map<string, StoredLink | null>()
  const queue: Array<string> = []
  for (const start of from) {
    via.set(start, null)
    queue.push(start)
  }
  while (queue.length > 0) {
    const node = queue.shift()!
    if (to.has(node)) {
      const chain: Array<StoredLink> = []
      for (let at = node, step = via.get(at); step !== null && step !== undefined; step = via.get(at)) {
        chain.unshift(step)
        at = step.a === at ? step.b : step.a
      }
      return chain
    }
    for (const l of next.get(node) ?? []) {
      const other = l.a === node ? l.b : l.a
      if (!via.has(other)) {
        via.set(other, l)
        queue.push(other)
      }
    }
  }
  return undefined
}

export const explainIdentifiers = Effect.fn("explainIdentifiers")(function* (tenant: string, first: IdentifierRef, second: IdentifierRef) {
  const pa = yield* profileIdOf(tenant, first)
  const pb = yield* profileIdOf(tenant, second)
  const nodesA = yield* profileNodes(tenant, pa)
  const nodesB = pa === pb ? nodesA : yield* profileNodes(tenant, pb)
  const keys = [...new Set([...nodesA, ...nodesB].map(keyOf))]
  const links = yield* linksTouching(tenant, keys)
  const of = (ref: IdentifierRef, nodes: ReadonlyArray<{ kind: string; value: string; slice: number }>) =>
    new Set(ref._tag === "profile" ? nodes.map(keyOf) : nodes.filter((n) => n.kind === ref.kind && n.value === ref.value).map(keyOf))
  if (pa === pb) {
    const chain = chainBetween(links, of(first, nodesA), of(second, nodesA)) ?? []
    return { joined: true, profileId: pa, chain: chain.map(explained) } satisfies Explanation
  }
  const inA = new Set(nodesA.map(keyOf))
  const inB = new Set(nodesB.map(keyOf))
  const refused = links.filter((l) => l.status === "refused" && (inA.has(l.a) && inB.has(l.b) || inB.has(l.a) && inA.has(l.b)))
  const shared = [...nodesA, ...nodesB].filter((n) => n.shared !== "").map((n) => ({ identifier: nodeKey(n.kind as never, n.value), reason: n.shared }))
  const why = refused.length > 0
    ? `${refused.length} link(s) between them were refused: ${[...new Set(refused.map((l) => l.reason))].join("; ")}`
    : shared.length > 0
      ? "a value they have in common is shared by several people, so it links nobody"
      : "no message states identifiers of both"
  return { joined: false, profiles: [pa, pb], refused: refused.map(explained), shared, why } satisfies Explanation
})
