// Runs a command's program: resources close on SIGINT/SIGTERM (stop accepting, drain, flush), and a failure the
// user can cause is one clear line on stderr with exit code 1, never a stack trace.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Exit } from "effect"

export const userMessage = (error: unknown): string => {
  if (error instanceof Error) return error.message
  if (typeof error === "object" && error !== null && "message" in error) return String(error.message)
  return String(error)
}

/** An error the user can cause and fix (a tagged error, or one of the file system's): one line, no stack. */
export const isUserError = (error: unknown): boolean =>
  typeof error === "object" && error !== null && ("_tag" in error || "code" in error)

export const runCommand = <A, E>(program: Effect.Effect<A, E>) =>
  NodeRuntime.runMain(
    program.pipe(
      Effect.tapCause((cause) =>
        Effect.sync(() => {
          if (Cause.hasInterruptsOnly(cause)) return
          const error = Cause.findErrorOption(cause)
          if (error._tag === "Some") {
            process.stderr.write(`cdp: ${userMessage(error.value)}\n`)
          } else {
            process.stderr.write(`cdp: internal error: ${Cause.pretty(cause)}\n`)
          }
        })),
    ),
    {
      disableErrorReporting: true,
      teardown: (exit, onExit) =>
        onExit(Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? 0 : 1),
    },
  )
