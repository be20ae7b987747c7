// What the online identity graph (identity/resolver.ts) answers for a batch, and what it asks to read back.
import type { Link, NodeKey, RefusedLink } from "./graph.ts"

export interface ProfileChange {
  readonly messageId: string
  readonly profileId: string
  /** The profile the message had before, or undefined for a new message. */
  readonly previous: string | undefined
}

/** What operators decided for a tenant (identity_operations): identifiers removed from linking, pairs kept apart. */
export interface OperatorDecisions {
  readonly removed: ReadonlyMap<NodeKey, string>
  readonly separate: ReadonlyArray<readonly [NodeKey, NodeKey]>
}

export const NO_DECISIONS: OperatorDecisions = { removed: new Map(), separate: [] }

export interface ProfileMerge {
  readonly fromProfile: string
  readonly toProfile: string
  /** "merge": into a profile that existed, or one a joining message older than both named; "split": into a new one. */
  readonly kind: "merge" | "split"
  readonly messages: number
}

/**
 * A clean part of the graph that moved whole to another profile: every message stored before this batch that states
 * one of `nodes` moved from `fromProfile` to `toProfile` (the graph does not hold them; the caller looks them up).
 */
export interface PartMove {
  readonly nodes: ReadonlyArray<NodeKey>
  readonly fromProfile: string
  readonly toProfile: string
  readonly kind: "merge" | "split"
}

/** What a re-resolution needs read back: stored observations stating these identifiers, and of these messages. */
export interface Needed {
  readonly nodes: ReadonlyArray<NodeKey>
  /** Messages sent again with other identifiers than recently: their stored version is replaced. */
  readonly messages: ReadonlyArray<string>
}

export const NOTHING: Needed = { nodes: [], messages: [] }

export interface ResolveResult {
  /** Profile of each message of the batch. */
  readonly profiles: ReadonlyMap<string, string>
  /** Messages of this batch, or stored ones read back for a re-resolution, whose profile changed. */
  readonly moved: ReadonlyArray<ProfileChange>
  /** Moves of those messages between profiles, grouped. */
  readonly merges: ReadonlyArray<ProfileMerge>
  /** Stored messages that moved with their whole part (not in `moved` nor `merges`). */
  readonly partMoves: ReadonlyArray<PartMove>
  /** Profile of every identifier (node) that is new or whose profile may have changed, and the shared values among them. */
  readonly nodes: ReadonlyMap<NodeKey, string>
  readonly shared: ReadonlyMap<NodeKey, string>
  /** Links that hold, made by this batch's messages or by the re-resolution of the parts they touched (provenance). */
  readonly links: ReadonlyArray<Link>
  /** Links refused, with their reason. */
  readonly refused: ReadonlyArray<RefusedLink>
  /**
   * Links stored before whose message a re-resolution links otherwise now (its anchor or a value was cut into time
   * slices, or is no longer): neither linked nor refused any more, so no stored row of theirs says what no longer is.
   */
  readonly withdrawn: ReadonlyArray<Link>
}

/**
 * Each message of a batch with its profile: read in order without building a map (as the stage reads it); a map is
 * built only when asked for one message (a message sent twice in one batch has one profile, so either reading agrees).
 */
export class BatchProfiles implements ReadonlyMap<string, string> {
  private map: Map<string, string> | undefined
  private readonly ids: ReadonlyArray<string>
  private readonly profiles: ReadonlyArray<string>

  constructor(ids: ReadonlyArray<string>, profiles: ReadonlyArray<string>) {
    this.ids = ids
    this.profiles = profiles
  }

  private byId(): Map<string, string> {
    if (this.map === undefined) {
      this.map = new Map()
      for (let i = 0; i < this.ids.length; i++) this.map.set(this.ids[i]!, this.profiles[i]!)
    }
    return this.map
  }

  get size(): number {
    return this.byId().size
  }
  get(id: string): string | undefined {
    return this.byId().get(id)
  }
  has(id: string): boolean {
    return this.byId().has(id)
  }
  forEach(f: (profile: string, id: string, map: ReadonlyMap<string, string>) => void): void {
    for (const [id, profile] of this) f(profile, id, this)
  }
  *entries(): MapIterator<[string, string]> {
    for (let i = 0; i < this.ids.length; i++) yield [this.ids[i]!, this.profiles[i]!]
  }
  *keys(): MapIterator<string> {
    for (const [id] of this) yield id
  }
  *values(): MapIterator<string> {
    for (const [, profile] of this) yield profile
  }
  [Symbol.iterator](): MapIterator<[string, string]> {
    return this.entries()
  }
}
