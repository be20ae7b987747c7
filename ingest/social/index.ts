// Live social connectors (X/Twitter): the recent-search poller and the filtered stream. File imports of the same
// data go through ingest/sources/twitter.ts, which both of these share for mapping tweets.
export {
  backoffMs,
  DEFAULT_RETRY_POLICY,
  loadXConfig,
  makeXClient,
  type XClient,
  type XClientOptions,
  type XConfig,
  XConfigInvalid,
  type XError,
  XForbidden,
  XRateLimited,
  XRequestRejected,
  type XRetryPolicy,
  type XRule,
  type XStatus,
  XBadAnswer,
  XUnauthorized,
  XUnavailable,
} from "./x-client.ts"
export { pollRecentSearch, type QuerySummary, type SearchOptions, type SearchState, searchStateKey } from "./x-search.ts"
export {
  DEFAULT_RECONNECT,
  filteredStream,
  type ReconnectPolicy,
  runFilteredStream,
  type RuleSyncResult,
  type StreamOptions,
  syncStreamRules,
} from "./x-stream.ts"
