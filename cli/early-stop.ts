// SIGINT or SIGTERM before a command has installed its own handling (cli/run.ts): `cdp` loads its modules for about
// half a second first, and Node's default then ended it without a word. bin/cdp.js listens first thing. A signal that
// comes while the modules load waits (loading gives the event loop no turn to deliver it) and reaches the command's
// handling once runCommand has taken over, which says what it says of any interrupt; one delivered before (or in a
// command that never runs a program, such as --help) is answered here.
import { constants } from "node:os"

const SIGNALS = ["SIGINT", "SIGTERM"] as const

const stopEarly = (signal: NodeJS.Signals) => {
  process.stderr.write(`cdp: stopped by ${signal} before it started: nothing was done\n`)
  process.exit(128 + constants.signals[signal])
}

/** Until handOverSignals: SIGINT or SIGTERM ends cdp with one line saying nothing was done, exit 128 + its number. */
export const stopEarlyOnSignals = (): void => {
  for (const name of SIGNALS) process.on(name, stopEarly)
}

/**
 * The command has its own listeners (runCommand): the early ones go. Called after those are added, so that Node keeps
 * listening throughout and a signal still pending is delivered to them, not dropped with the last listener.
 */
export const handOverSignals = (): void => {
  for (const name of SIGNALS) process.removeListener(name, stopEarly)
}
