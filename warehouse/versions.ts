// The one clock for versioned rows (ReplacingMergeTree versions, argMax readers): microseconds since the epoch that only
// grow in this process, even for two writes within one microsecond, and that move past every version this process has
// seen another writer store, so a later decision wins over an earlier one made where the clock runs ahead (several
// workers on one warehouse, a restart on another machine).
let last = 0

/** The version for a row written now. */
export const nextVersion = (): number => (last = Math.max(last + 1, Date.now() * 1000))

/** Another writer's rows stored at `ms` by its clock were read: later versions from here are past any of them. */
export const witnessWrittenAt = (ms: number): void => {
  if (Number.isFinite(ms)) last = Math.max(last, Math.floor(ms) * 1000 + 999)
}

/** The millisecond a version was made in (for the time columns written beside it). */
export const versionMs = (version: number): number => Math.floor(version / 1000)
