// The audience condition language: JSON (condition.schema.json) checked by ajv, node by node, so an error names the
// JSON pointer of the node at fault; depth and size are bounded before anything is compiled. A parsed condition is a
// tree whose leaves are numbered: the compiled query gives each leaf a column (did it match, with which value), which
// is how a member's "why" is told.
import type { ErrorObject, ValidateFunction } from "ajv"
import { Data } from "effect"
import { notAChannel } from "../../ingest/message.ts"
import { ajv } from "../../ingest/schemas.ts"
import schema from "./condition.schema.json" with { type: "json" }

export type Op = "=" | "!=" | "<" | "<=" | ">" | ">="

export interface TraitCondition {
  readonly trait: string
  readonly equals?: string | number | boolean
  readonly in?: ReadonlyArray<string | number>
  readonly exists?: boolean
  readonly compare?: Op
  readonly value?: number
}
export interface EventCondition {
  readonly event: string
  readonly channel?: string
  readonly count?: { readonly op: Op; readonly value: number }
  readonly withinDays?: number
}
export interface ConsentCondition { readonly consent: string }
export interface RelationshipCondition { readonly relationship: { readonly in: ReadonlyArray<string> } }
export interface Bound { readonly op: Op; readonly value: number }
export interface HealthCondition { readonly health: Bound }
export interface ChurnRiskCondition { readonly churnRisk: Bound }
export interface SentimentCondition {
  readonly sentiment: { readonly of: "latest" | "average"; readonly withinDays?: number; readonly op: Op; readonly value: number }
}
export interface ChannelCondition { readonly channel: string; readonly withinDays?: number }

export type Leaf =
  | TraitCondition | EventCondition | ConsentCondition | RelationshipCondition | HealthCondition | ChurnRiskCondition
  | SentimentCondition | ChannelCondition

export type Condition =
  | { readonly and: ReadonlyArray<Condition> } | { readonly or: ReadonlyArray<Condition> } | { readonly not: Condition } | Leaf

export type LeafKind = "trait" | "event" | "consent" | "relationship" | "health" | "churnRisk" | "sentiment" | "channel"

export const LEAF_KINDS: ReadonlyArray<LeafKind> = ["trait", "event", "consent", "relationship", "health", "churnRisk", "sentiment", "channel"]
const COMBINATORS = ["and", "or", "not"] as const

/** A parsed condition: combinators and numbered leaves, each with the JSON pointer it was read from. */
export type Node =
  | { readonly kind: "and" | "or"; readonly items: ReadonlyArray<Node>; readonly pointer: string }
  | { readonly kind: "not"; readonly item: Node; readonly pointer: string }
  | { readonly kind: LeafKind; readonly leaf: Leaf; readonly index: number; readonly pointer: string }

export type LeafNode = Extract<Node, { readonly index: number }>

export const isLeaf = (n: Node): n is LeafNode => "index" in n

/** Nesting deeper than this is refused (a marketer's audience is a few levels; a deep one is a mistake or an attack). */
export const MAX_DEPTH = 8
/** Nodes (leaves and combinators) at most. */
export const MAX_NODES = 200

export class ConditionInvalid extends Data.TaggedError("ConditionInvalid")<{
  /** JSON pointer of the node or field at fault ("" for the whole condition). */
  readonly pointer: string
  readonly reason: string
}> {
  override get message() {
    return `condition ${this.pointer === "" ? "(top level)" : this.pointer}: ${this.reason}`
  }
}

// Compiled on first use: most commands never read a condition.
let compiledLeaves: Map<LeafKind, ValidateFunction> | undefined
const validators = () => {
  if (compiledLeaves !== undefined) return compiledLeaves
  if (ajv.getSchema(schema.$id) === undefined) ajv.addSchema(schema, schema.$id)
  const out = new Map<LeafKind, ValidateFunction>()
  for (const kind of LEAF_KINDS) out.set(kind, ajv.getSchema(`${schema.$id}#/definitions/${kind}`)!)
  return compiledLeaves = out
}

const segment = (s: string | number) => String(s).replaceAll("~", "~0").replaceAll("/", "~1")

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v)

const ajvReason = (e: ErrorObject): string => {
  if (e.keyword === "additionalProperties") return `unknown field "${(e.params as { additionalProperty: string }).additionalProperty}"`
  if (e.keyword === "enum") return `must be one of ${(e.params as { allowedValues: Array<unknown> }).allowedValues.map((v) => JSON.stringify(v)).join(", ")}`
  if (e.keyword === "required") return `needs "${(e.params as { missingProperty: string }).missingProperty}"`
  return e.message ?? e.keyword
}

const TRAIT_TESTS = ["equals", "in", "exists", "compare"] as const

/** Parses and checks a condition (already JSON-decoded); fails naming the first node at fault. */
export const parseCondition = (input: unknown): Node | ConditionInvalid => {
  let nodes = 0
  let leaves = 0
  const walk = (value: unknown, pointer: string, depth: number): Node | ConditionInvalid => {
    if (++nodes > MAX_NODES) return new ConditionInvalid({ pointer, reason: `a condition may have at most ${MAX_NODES} nodes` })
    if (depth > MAX_DEPTH) return new ConditionInvalid({ pointer, reason: `a condition may nest at most ${MAX_DEPTH} levels deep` })
    if (!isObject(value)) return new ConditionInvalid({ pointer, reason: "must be an object with one of the keys " + [...COMBINATORS, ...LEAF_KINDS].join(", ") })
    // "channel" is a kind of its own and a field of an event condition.
    const kinds = Object.keys(value).filter((k) => ((COMBINATORS as ReadonlyArray<string>).includes(k) || (LEAF_KINDS as ReadonlyArray<string>).includes(k)) &&
      !(k === "channel" && "event" in value))
    if (kinds.length !== 1) {
      return new ConditionInvalid({
        pointer,
        reason: kinds.length === 0
          ? `has none of the keys ${[...COMBINATORS, ...LEAF_KINDS].join(", ")}${Object.keys(value).length > 0 ? ` (got ${Object.keys(value).slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40))).join(", ")})` : ""}`
          : `has more than one kind (${kinds.join(", ")}): combine them with "and" or "or"`,
      })
    }
    const kind = kinds[0]!
    if (kind === "and" || kind === "or" || kind === "not") {
      const extra = Object.keys(value).find((k) => k !== kind)
      if (extra !== undefined) return new ConditionInvalid({ pointer: `${pointer}/${segment(extra)}`, reason: `unknown field beside "${kind}"` })
      if (kind === "not") {
        const item = walk(value["not"], `${pointer}/not`, depth + 1)
        return item instanceof ConditionInvalid ? item : { kind, item, pointer }
      }
      const list = value[kind]
      if (!Array.isArray(list) || list.length === 0) return new ConditionInvalid({ pointer: `${pointer}/${kind}`, reason: "must be a non-empty array of conditions" })
      const items: Array<Node> = []
      for (let i = 0; i < list.length; i++) {
        const item = walk(list[i], `${pointer}/${kind}/${i}`, depth + 1)
        if (item instanceof ConditionInvalid) return item
        items.push(item)
      }
      return { kind, items, pointer }
    }
    if (kind === "trait") {
      const tests = TRAIT_TESTS.filter((t) => t in value)
      if (tests.length !== 1) {
        return new ConditionInvalid({ pointer, reason: `a trait condition needs exactly one of ${TRAIT_TESTS.join(", ")}${tests.length > 1 ? ` (got ${tests.join(" and ")})` : ""}` })
      }
      if (tests[0] === "compare" && !("value" in value)) return new ConditionInvalid({ pointer, reason: 'compare needs "value" (a number)' })
      if (tests[0] !== "compare" && "value" in value) return new ConditionInvalid({ pointer: `${pointer}/value`, reason: '"value" goes with "compare" only' })
    }
    const validate = validators().get(kind as LeafKind)!
    if (!validate(value)) {
      const e = validate.errors![0]!
      return new ConditionInvalid({ pointer: `${pointer}${e.instancePath}`, reason: ajvReason(e) })
    }
    return { kind: kind as LeafKind, leaf: value as unknown as Leaf, index: leaves++, pointer }
  }
  return walk(input, "", 1)
}

/**
 * The first leaf naming a channel that is none of the channels (an event's `channel` or a channel condition), or
 * undefined. Checked when a condition is saved or previewed, not by parseCondition: an audience saved before keeps
 * loading, and such a leaf matches nobody.
 */
export const unknownChannel = (node: Node): ConditionInvalid | undefined => {
  for (const l of leavesOf(node)) {
    const channel = l.kind === "channel" ? (l.leaf as ChannelCondition).channel : l.kind === "event" ? (l.leaf as EventCondition).channel : undefined
    const reason = channel === undefined ? undefined : notAChannel(channel)
    if (reason !== undefined) return new ConditionInvalid({ pointer: `${l.pointer}/channel`, reason })
  }
  return undefined
}

/** Parses a condition from JSON text. */
export const parseConditionText = (text: string): Node | ConditionInvalid => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    return new ConditionInvalid({ pointer: "", reason: `is not valid JSON (${(e as Error).message})` })
  }
  return parseCondition(value)
}

/** The leaves of a parsed condition, in index order. */
export const leavesOf = (node: Node): Array<LeafNode> => {
  const out: Array<LeafNode> = []
  const visit = (n: Node) => {
    if (n.kind === "and" || n.kind === "or") n.items.forEach(visit)
    else if (isLeaf(n)) out.push(n)
    else if (n.kind === "not") visit(n.item)
  }
  visit(node)
  return out
}

const window = (days: number | undefined) => (days === undefined ? "" : ` in the last ${days} days`)

/** A leaf in words, for explanations and causes. */
export const describeLeaf = (n: LeafNode): string => {
  const l = n.leaf as unknown as Record<string, unknown>
  switch (n.kind) {
    case "trait": {
      const t = n.leaf as TraitCondition
      if (t.equals !== undefined) return `trait ${JSON.stringify(t.trait)} = ${JSON.stringify(t.equals)}`
      if (t.in !== undefined) return `trait ${JSON.stringify(t.trait)} in ${JSON.stringify(t.in)}`
      if (t.exists !== undefined) return `trait ${JSON.stringify(t.trait)} ${t.exists ? "exists" : "does not exist"}`
      return `trait ${JSON.stringify(t.trait)} ${t.compare} ${t.value}`
    }
    case "event": {
      const e = n.leaf as EventCondition
      const c = e.count ?? { op: ">=", value: 1 }
      return `events ${JSON.stringify(e.event)}${e.channel === undefined ? "" : ` on ${e.channel}`} ${c.op} ${c.value}${window(e.withinDays)}`
    }
    case "consent": return `consents to ${(n.leaf as ConsentCondition).consent}`
    case "relationship": return `relationship in ${JSON.stringify((n.leaf as RelationshipCondition).relationship.in)}`
    case "health": return `health ${(l["health"] as Bound).op} ${(l["health"] as Bound).value}`
    case "churnRisk": return `churn risk ${(l["churnRisk"] as Bound).op} ${(l["churnRisk"] as Bound).value}`
    case "sentiment": {
      const s = (n.leaf as SentimentCondition).sentiment
      return `${s.of} sentiment${s.of === "average" ? window(s.withinDays) : ""} ${s.op} ${s.value}`
    }
    case "channel": {
      const c = n.leaf as ChannelCondition
      return `seen on ${c.channel}${window(c.withinDays)}`
    }
  }
}
