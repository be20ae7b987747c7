// One process per embedded data directory. The lock itself is the engine's: chDB holds an flock on the directory's
// `status` file, which the OS releases when the holder dies, however it dies. The owner file only names the holder
// so a second process is told who it is (before the engine refuses, noisily); it is believed only while the process
// it names is the very same process (pid and start time), so a file left by kill -9, or a pid reused by another
// program, never blocks a restart.
import { linkSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Data } from "effect"

const OWNER_FILE = "cdp-owner.json"

/** Another process holds the embedded data directory (chDB allows one process per directory). */
export class DataDirLocked extends Data.TaggedError("DataDirLocked")<{
  readonly dataDir: string
  readonly owner?: string | undefined
}> {
  override get message() {
    return `data dir ${this.dataDir} is in use by ${this.owner ?? "another cdp process"}; ` +
      "stop it (its data stays) or use another --data-dir (while cdp serve runs, cdp query goes through it and " +
      "data can be sent to its HTTP API)"
  }
}

interface OwnerRecord {
  readonly pid: number
  readonly command: string
  /** The process's start time (clock ticks since boot, /proc/PID/stat field 22): a pid alone can be reused. */
  readonly startTime?: string
}

/** When a process started, or undefined when it does not exist or the system has no /proc. */
const startTime = (pid: number): string | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // The command name (field 2) is in parentheses and may contain spaces: count fields after its closing one.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]
  } catch {
    return undefined
  }
}

const hasProc = (): boolean => startTime(process.pid) !== undefined

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Whether the recorded process is still the one running under its pid. */
const stillRunning = (owner: OwnerRecord): boolean => {
  if (!hasProc()) return isAlive(owner.pid)
  // A record without a start time cannot be verified: the engine's own lock decides.
  return owner.startTime !== undefined && startTime(owner.pid) === owner.startTime
}

/** Who holds the embedded warehouse directory `dir` (e.g. "`cdp serve` (pid 42)"), or undefined when nobody does. */
export const dataDirHolder = (dir: string): string | undefined => {
  let owner: OwnerRecord
  try {
    owner = JSON.parse(readFileSync(join(dir, OWNER_FILE), "utf8")) as OwnerRecord
  } catch {
    return undefined
  }
  if (typeof owner.pid !== "number" || owner.pid === process.pid || !stillRunning(owner)) return undefined
  return `\`${owner.command}\` (pid ${owner.pid})`
}

/**
 * Claims the directory for this process before the engine opens it, or answers who holds it. Of processes starting at
 * once, the first to claim it opens the engine and the others are told its name (the engine alone would refuse them
 * later, printing its own exception to stderr). The record appears whole or not at all (linked from a file written
 * first), so a reader never takes a half-written one for a stale one; a record of a process that is gone is replaced.
 * The engine's lock still decides: two processes replacing the same stale record at once both go on to the engine.
 */
export const claimHolder = (dir: string): string | undefined => {
  const owner: OwnerRecord = { pid: process.pid, command: `cdp ${process.argv[2] ?? ""}`.trim(), ...withStartTime() }
  const written = join(dir, `${OWNER_FILE}.${process.pid}`)
  writeFileSync(written, JSON.stringify(owner), { mode: 0o600 })
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        linkSync(written, join(dir, OWNER_FILE))
        return undefined
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
      }
      const holder = dataDirHolder(dir)
      if (holder !== undefined) return holder
      rmSync(join(dir, OWNER_FILE), { force: true })
    }
    return "another cdp process"
  } finally {
    rmSync(written, { force: true })
  }
}

const withStartTime = (): { startTime?: string } => {
  const t = startTime(process.pid)
  return t === undefined ? {} : { startTime: t }
}

/** Removes the record when this process closes the directory. */
export const releaseHolder = (dir: string): void => {
  rmSync(join(dir, OWNER_FILE), { force: true })
}
