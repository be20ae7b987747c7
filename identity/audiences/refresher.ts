// The loop `cdp serve` runs beside the pipeline: after batches land (the landed count moved) it refreshes every
// audience, and at least every so often without them (a consent change by an operator, a relations run, an erasure
// change membership without landing anything). One refresh at a time; a failed one is logged and tried again.
import { Duration, Effect, Schedule } from "effect"
import { type Emit, refreshAudiences } from "./membership.ts"

export interface RefresherOptions {
  readonly emit: Emit
  /** Messages landed so far (the pipeline's counter): a change means new data. */
  readonly landed: () => number
  /** How often the landed count is looked at (default 1 s): the latency of an entry or exit after its event lands. */
  readonly tick?: Duration.Input
  /** A refresh at least this often even when nothing landed (default 60 s). */
  readonly idle?: Duration.Input
}

export const keepAudiencesCurrent = (options: RefresherOptions) =>
  Effect.gen(function* () {
    const idleMs = Duration.toMillis(options.idle ?? Duration.seconds(60))
    let seen = -1
    let lastRun = 0
    // The refresh's own Audience Entered/Exited events land too: they are no news, so they do not count as landed.
    let emitted = 0
    const emit: Emit = (events) => Effect.tap(options.emit(events), () => Effect.sync(() => { emitted += events.length }))
    const step = Effect.gen(function* () {
      const landed = options.landed() - emitted
      if (landed === seen && Date.now() - lastRun < idleMs) return
      seen = landed
      lastRun = Date.now()
      const s = yield* refreshAudiences({ emit })
      if (s.entered + s.exited > 0) yield* Effect.logInfo("audiences refreshed").pipe(Effect.annotateLogs({ ...s }))
    }).pipe(Effect.catchCause((cause) => Effect.logWarning("audience refresh failed").pipe(Effect.annotateLogs({ cause: String(cause).slice(0, 300) }))))
    return yield* Effect.repeat(step, Schedule.spaced(options.tick ?? Duration.seconds(1)))
  })
