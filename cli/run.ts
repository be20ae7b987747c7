// Runs a command's program: resources close on SIGINT/SIGTERM (stop accepting, drain, flush), and a failure the
// user can cause is one clear line on stderr with exit code 1, never a stack trace.
import { constants } from "node:os"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Exit } from "effect"
import { terminalSafe } from "./format.ts"
import { handOverSignals } from "./early-stop.ts"

export const userMessage = (error: unknown): string => {
  if (error instanceof Error) return error.message
  if (typeof error === "object" && error !== null && "message" in error) return String(error.message)
  return String(error)
}

/** An error the user can cause and fix (a tagged error, or one of the file system's): one line, no stack. */
export const isUserError = (error: unknown): boolean =>
  typeof error === "object" && error !== null && ("_tag" in error || "code" in error)

export interface RunOptions {
  /** It runs until a signal stops it (cdp serve, cdp worker): that is its normal end, exit 0. */
  readonly untilSignal?: boolean
  /** What a signal before its end leaves, after "stopped by SIGINT before " (default: it finished, and what it did stays). */
  readonly whenStopped?: string
}

const STOP_SIGNALS = ["SIGINT", "SIGTERM"] as const

export const runCommand = <A, E>(program: Effect.Effect<A, E>, options: RunOptions = {}) => {
  // A one-shot command stopped partway did not succeed: a script's `cdp ingest f && rm f` must not go on. The runtime
  // interrupts the program on either signal; which one came is noted here for the line and the exit code (128 + its number).
  let signal: (typeof STOP_SIGNALS)[number] | undefined
  const noted = STOP_SIGNALS.map((name) => [name, () => { signal ??= name }] as const)
  if (options.untilSignal !== true) for (const [name, note] of noted) process.on(name, note)
  NodeRuntime.runMain(
    program.pipe(
      Effect.tapCause((cause) =>
        Effect.sync(() => {
          if (Cause.hasInterruptsOnly(cause)) return
          const error = Cause.findErrorOption(cause)
          // An error may quote what a file or a sender gave (a label line, a CSV header): its control characters are
          // shown escaped, as on stdout (cli/format.ts), not obeyed by the terminal.
          if (error._tag === "Some") {
            process.stderr.write(`cdp: ${terminalSafe(userMessage(error.value))}\n`)
          } else {
            process.stderr.write(`cdp: internal error: ${terminalSafe(Cause.pretty(cause))}\n`)
          }
        })),
    ),
    {
      disableErrorReporting: true,
      teardown: (exit, onExit) => {
        for (const [name, note] of noted) process.removeListener(name, note)
        if (Exit.isSuccess(exit)) return onExit(0)
        if (!Cause.hasInterruptsOnly(exit.cause)) return onExit(1)
        if (signal === undefined) return onExit(0)
        process.stderr.write(`cdp: stopped by ${signal} before ${options.whenStopped ?? "it finished (what it did until then stays)"}\n`)
        onExit(128 + constants.signals[signal])
      },
    },
  )
  // Only now, with the command's listeners (and the runtime's) in place: see cli/early-stop.ts.
  handOverSignals()
}
