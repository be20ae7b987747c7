// Test support: the real `cdp` command as a child process that does not block the test's process, so commands on
// different data dirs (each a process holding its own), or touching none, can run at once. Same arguments and answer
// as runCdp (test/support/cli.ts).
import { spawn } from "node:child_process"
import { CDP_BIN, REPO_ROOT } from "./cli.ts"

export interface CdpResult {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

/** How long a process may run before it is killed (as runCdp): what catches a command that hangs. */
export const KILLED_AFTER_MS = 120_000

/** `env` is added to this process's environment (a variable set to undefined is removed); killed after KILLED_AFTER_MS. */
export const runCdpAsync = (
  args: ReadonlyArray<string>,
  options: { cwd?: string; input?: string; env?: Record<string, string | undefined> } = {},
): Promise<CdpResult> => runNodeAsync([CDP_BIN, ...args], options)

/** `node ARGS` (a script and its arguments) the same way, e.g. a data set's generator or scorer. */
export const runNodeAsync = (
  args: ReadonlyArray<string>,
  options: { cwd?: string; input?: string; env?: Record<string, string | undefined> } = {},
): Promise<CdpResult> =>
  new Promise((resolve, reject) => {
    const env = options.env === undefined ? process.env
      : Object.fromEntries(Object.entries({ ...process.env, ...options.env }).filter(([, v]) => v !== undefined))
    const child = spawn(process.execPath, args, { cwd: options.cwd ?? REPO_ROOT, env, timeout: KILLED_AFTER_MS })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    child.stdout.on("data", (d: Buffer) => out.push(d))
    child.stderr.on("data", (d: Buffer) => err.push(d))
    child.once("error", reject)
    child.once("close", (code) => resolve({ status: code, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }))
    child.stdin.end(options.input)
  })

/**
 * `runs` started at most `limit` at a time (cdp processes are CPU-bound for most of their start-up: more than a few
 * at once on two cores only queue); the answers in the order of `runs`.
 */
export const allLimited = async <A>(runs: ReadonlyArray<() => Promise<A>>, limit = 4): Promise<Array<A>> => {
  const results = new Array<A>(runs.length)
  let next = 0
  const worker = async () => {
    while (next < runs.length) {
      const i = next++
      results[i] = await runs[i]!()
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, runs.length) }, worker))
  return results
}
