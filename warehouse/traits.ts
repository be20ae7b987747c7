// The trait_precedence table's one owner (migration 016): the lists `profiles` ranks trait statements by, written
// as one new version when cdp starts with a setting that differs from the stored one.
import { Effect } from "effect"
import { Warehouse } from "./warehouse.ts"

export interface PrecedenceList {
  readonly scope: string
  readonly trait: string
  readonly sources: ReadonlyArray<string>
}

const keyOf = (lists: ReadonlyArray<PrecedenceList>) =>
  JSON.stringify([...lists].map((l) => [l.scope, l.trait, l.sources]).sort((a, b) => (`${a[0]}/${a[1]}` < `${b[0]}/${b[1]}` ? -1 : 1)))

/** Stores the lists unless the latest stored version already holds exactly them; true when it wrote. */
export const storeTraitPrecedence = Effect.fn("storeTraitPrecedence")(function* (lists: ReadonlyArray<PrecedenceList>) {
  const warehouse = yield* Warehouse
  const stored = yield* warehouse.query<{ scope: string; trait: string; sources: Array<string>; version: string }>(
    "SELECT scope, trait, sources, version FROM trait_precedence WHERE version = (SELECT max(version) FROM trait_precedence)")
  if (stored.length > 0 && keyOf(stored) === keyOf(lists)) return false
  const version = Math.max(Date.now(), ...stored.map((r) => Number(r.version) + 1))
  yield* warehouse.insert("trait_precedence", lists.map((l) => ({ scope: l.scope, trait: l.trait, sources: l.sources, version })))
  return true
})
