// The current profile of a landed message, as ONE SQL fragment for queries over event_rows (or another store keyed by
// message, like sentiment): its latest move in event_profiles (a merge or a split moved it, 010), else the profile it
// landed under. The `events` view (011) and `consent_current` (020) say the same in their DDL; queries write it out
// instead of reading the view because the view joins every tenant's moves and a profile filter cannot reach below
// its join to event_rows' order key (tenant, profile_id, ...).

/** The fragment's own parameter: the tenant whose moves are read (event_profiles' order key starts (tenant, message_id)). */
export const CURRENT_PROFILE_TENANT = "cp_tenant"

export interface CurrentProfileSql {
  /** `LEFT JOIN (moves) AS <moves> ON ...`, to follow `FROM <rows> AS <alias>`; the rows need `message_id` and `profile_id`. */
  readonly join: string
  /** The current profile id of the row (a String expression). */
  readonly profileId: string
  /** The fragment's parameters (`cp_tenant`), to merge into the query's. */
  readonly params: Record<string, unknown>
}

/**
 * The current profile of the rows aliased `alias` in a query of one tenant. `moves` names the joined moves (default
 * `moved`); two fragments in one scope need different names. The rows must be of the same tenant (the caller filters
 * them: the join is by message id only).
 */
export const currentProfileSql = (tenant: string, alias: string, moves = "moved"): CurrentProfileSql => ({
  join: `LEFT JOIN (SELECT message_id, argMax(profile_id, version) AS profile_id FROM event_profiles ` +
    `WHERE tenant = {${CURRENT_PROFILE_TENANT}:String} GROUP BY message_id) AS ${moves} ON ${moves}.message_id = ${alias}.message_id`,
  profileId: `if(${moves}.profile_id != '', ${moves}.profile_id, ${alias}.profile_id)`,
  params: { [CURRENT_PROFILE_TENANT]: tenant },
})

/**
 * A condition on rows (with `message_id` and `profile_id` at landing) keeping every message the profiles of `set` can
 * hold now: landed under one of them (event_rows' order key), or moved to one of them at some time (event_profiles'
 * profile_id skip index, 023). A superset: a message moved on since is dropped by filtering the current profile
 * (currentProfileSql) on the same set. `set` is SQL for an IN: `{name:Array(String)}` or `(SELECT profile_id ...)`.
 */
export const mayHoldNowInSql = (set: string): string =>
  `(profile_id IN ${set} OR message_id IN (SELECT message_id FROM event_profiles ` +
  `WHERE tenant = {${CURRENT_PROFILE_TENANT}:String} AND profile_id IN ${set}))`

/** mayHoldNowInSql for the caller's parameter `profiles`, an Array(String). */
export const mayHoldNowSql = (profiles: string): string => mayHoldNowInSql(`{${profiles}:Array(String)}`)
