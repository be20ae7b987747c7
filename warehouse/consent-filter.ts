// Which profiles a purpose may use, in the shape exports and audiences embed in their queries over profiles with
// events. A purpose granted unless refused asks for the profiles it may NOT use (the refused and the restricted, a
// small set) instead of listing every profile with events (a scan of the whole events view per query, 1-2 s at 1M
// events); an opt-in purpose lists the granted ones (also small). consent/ledger.ts builds the filter from the policy.
import { grantingProfilesQuery, refusingProfilesQuery } from "./consent.ts"
import { currentProfileSql } from "./current-profile.ts"
import { restrictedProfilesSql } from "./dsr.ts"
import { chDateTime } from "./sink.ts"

export interface ConsentFilter {
  /**
   * "only": the purpose may use the profiles `sql` selects and no other; "allBut": every profile with events but
   * those `sql` selects.
   */
  readonly uses: "only" | "allBut"
  /** SQL selecting `profile_id`; its parameters are named `consent_*` (see `renamedFilter` to embed several). */
  readonly sql: string
  readonly params: Record<string, unknown>
}

/** The condition "the purpose may use the profile in `column`", for a query whose profiles all have events. */
export const allowedSql = (column: string, filter: ConsentFilter): string =>
  `${column} ${filter.uses === "only" ? "IN" : "NOT IN"} (${filter.sql})`

/** The filter with each of its parameters renamed `prefix + name`, so several can sit in one query. */
export const renamedFilter = (filter: ConsentFilter, prefix: string): ConsentFilter => {
  let sql = filter.sql
  const params: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(filter.params)) {
    sql = sql.replaceAll(`{${name}:`, `{${prefix}${name}:`)
    params[`${prefix}${name}`] = value
  }
  return { uses: filter.uses, sql, params }
}

/**
 * The filter of a purpose now or as of `atMs`: `grantedUnlessDenied` is the purpose's default when nothing is known.
 * Restricted profiles (GDPR Art. 18) are used for no purpose: those restricted by profile id (profile_restrictions)
 * and `restrictedIds` (found by identifier by the caller); `restrictedIds === "all"` when every profile is.
 */
export const consentFilterQuery = (
  tenant: string, purpose: string, grantedUnlessDenied: boolean, restrictedIds: ReadonlyArray<string> | "all", atMs?: number,
): ConsentFilter => {
  const at = atMs !== undefined
  if (restrictedIds === "all") return { uses: "only", sql: "SELECT '' AS profile_id WHERE 0", params: {} }
  const restricted = [...restrictedIds].sort()
  if (grantedUnlessDenied) {
    const refused = refusingProfilesQuery(tenant, purpose, atMs)
    return {
      uses: "allBut",
      params: { ...refused.params, consent_restricted: restricted },
      sql: `SELECT profile_id FROM (${refused.sql}) UNION ALL ${restrictedProfilesSql(at)} ` +
        "UNION ALL SELECT arrayJoin({consent_restricted:Array(String)}) AS profile_id",
    }
  }
  const granted = grantingProfilesQuery(tenant, purpose, atMs)
  return {
    uses: "only",
    params: { ...granted.params, consent_restricted: restricted },
    sql: `SELECT profile_id FROM (${granted.sql}) WHERE profile_id NOT IN (${restrictedProfilesSql(at)}) ` +
      "AND profile_id NOT IN {consent_restricted:Array(String)}",
  }
}

/**
 * Every profile a filter allows, as a list query (`profile_id`): for "allBut", the tenant's profiles with events (by
 * `atMs`, when given) but the excluded ones.
 */
export const allowedProfilesQuery = (tenant: string, filter: ConsentFilter, atMs?: number): { sql: string; params: Record<string, unknown> } => {
  if (filter.uses === "only") return { sql: filter.sql, params: filter.params }
  const f = renamedFilter(filter, "f_")
  // The profiles with events as the audiences read them (event_rows of the tenant, each at its current profile by the
  // one fragment), not through the events view, which joins every tenant's moves before the tenant is filtered.
  const current = currentProfileSql(tenant, "e")
  return {
    params: {
      ...f.params, ...current.params, consent_tenant: tenant, ...(atMs === undefined ? {} : { consent_at: chDateTime(new Date(atMs).toISOString()) }),
    },
    sql: `SELECT DISTINCT profile_id FROM (SELECT ${current.profileId} AS profile_id FROM ` +
      "(SELECT message_id, profile_id FROM event_rows WHERE tenant = {consent_tenant:String}" +
      (atMs !== undefined ? " AND timestamp <= {consent_at:DateTime64(3, 'UTC')}" : "") + `) AS e ${current.join}) ` +
      `WHERE ${allowedSql("profile_id", f)}`,
  }
}
