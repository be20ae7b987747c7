// The data directory holds personal data (the warehouse, the raw archive) and secrets (write key, admin token): only
// its owner may read it. bin/cdp.js sets the umask so that what cdp creates is private (0700 dirs, 0600 files); a
// directory made before that, or by hand, is tightened when opened.
import { accessSync, chmodSync, constants, existsSync, mkdirSync, statSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { Data, Effect } from "effect"

export class DataDirUnusable extends Data.TaggedError("DataDirUnusable")<{
  readonly dataDir: string
  readonly reason: string
  readonly advice?: string
}> {
  static of(dataDir: string, error: unknown) {
    return new DataDirUnusable({ dataDir, reason: reasonOf(error) })
  }

  override get message() {
    return `cannot use data dir ${this.dataDir}: ${this.reason}; ${this.advice ?? "pick a directory you can write (--data-dir or CDP_DATA_DIR)"}`
  }
}

// Set by a command that only reads what landed (cdp query, profile show, ...): a data dir or warehouse that is not
// there is then an error, instead of being made empty on the spot so that a mistyped path reads as "nothing landed".
let onlyReads = false
export const readOnlyCommand = () => {
  onlyReads = true
}

// Set by a command that works on what a data dir holds (replay its archive, retry its dead letters, rebuild identity,
// ...): a data dir that is not there is an error, not made empty for the command to find nothing to do. One that is
// there without a warehouse is fine (replay into it rebuilds one).
let worksOnStored = false
export const storedDataCommand = () => {
  worksOnStored = true
}

const NOTHING_THERE = "check --data-dir or CDP_DATA_DIR (cdp demo, cdp ingest and cdp serve make one)"

const mustExist = (dataDir: string, holds: string | undefined, what: string) => {
  try {
    // A file there is told as the commands that write tell it, not as a data dir without a warehouse.
    if (!statSync(dataDir).isDirectory()) {
      throw new DataDirUnusable({ dataDir, reason: reasonOf({ code: "EEXIST" }), advice: NOTHING_THERE })
    }
  } catch (e) {
    if (e instanceof DataDirUnusable) throw e
    // A part of the path that is a file, or that may not be read, is told as such.
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e
    throw new DataDirUnusable({ dataDir, reason: `it does not exist, and this command ${what}`, advice: NOTHING_THERE })
  }
  if (holds !== undefined && !existsSync(holds)) {
    throw new DataDirUnusable({ dataDir, reason: `it holds no warehouse, and this command ${what}`, advice: NOTHING_THERE })
  }
}

/**
 * Throws, with the file system's code, when `file` could not be written: it is a directory, or it (or, when it does
 * not exist yet, its directory) is missing or may not be written. Creates nothing: a command checks its output path
 * before doing work whose result would otherwise be lost.
 */
export const checkWritable = (file: string): void => {
  try {
    if (statSync(file).isDirectory()) throw Object.assign(new Error("it is a directory"), { code: "EISDIR" })
    accessSync(file, constants.W_OK)
    return
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e
  }
  const parent = dirname(resolve(file))
  if (!statSync(parent).isDirectory()) throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" })
  accessSync(parent, constants.W_OK)
}

/** A file the user asked for (e.g. --out) cannot be written. */
export class FileUnwritable extends Data.TaggedError("FileUnwritable")<{ readonly file: string; readonly reason: string }> {
  static of(file: string, error: unknown) {
    return new FileUnwritable({ file, reason: reasonOf(error) })
  }

  override get message() {
    return `cannot write ${this.file}: ${this.reason}; pick another path`
  }
}

const reasonOf = (e: unknown): string => {
  const error = e as NodeJS.ErrnoException
  switch (error.code) {
    case "EACCES":
    case "EPERM": return "permission denied"
    case "EROFS": return "it is on a read-only file system"
    case "ENOTDIR": return "a part of its path is a file, not a directory"
    case "EEXIST": return "it is a file, not a directory"
    case "EISDIR": return "it is a directory"
    case "ENOENT": return "its directory does not exist"
    case "ENOSPC": return "the disk is full"
    default: return error.message ?? String(e)
  }
}

/**
 * Makes the directory and its missing parents one at a time. Not mkdirSync(recursive): on a path under /proc (where
 * mkdir answers ENOENT under a directory that exists) it retries for ever, with signals blocked, so cdp hung.
 */
const makeDirectories = (dir: string) => {
  const missing: Array<string> = []
  let at = resolve(dir)
  for (;;) {
    try {
      const stat = statSync(at)
      if (!stat.isDirectory() && at !== resolve(dir)) throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" })
      break
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e
      missing.push(at)
      const up = dirname(at)
      if (up === at) throw e
      at = up
    }
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, { mode: 0o700 })
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === "EEXIST") continue // made meanwhile by another cdp
      if (code === "ENOENT") throw new Error(`no directory can be made in ${dirname(d)}`)
      throw e
    }
  }
}

/**
 * Creates the data dir (0700), or makes an existing one private, and checks that it can be written. For a command that
 * only reads, the dir (and `holds`, what it must hold) must be there already.
 */
export const prepareDataDir = (dataDir: string, holds?: string): Effect.Effect<void, DataDirUnusable> =>
  Effect.try({
    try: () => {
      if (onlyReads) mustExist(dataDir, holds, "only reads")
      else if (worksOnStored) mustExist(dataDir, undefined, "works on what is stored there")
      makeDirectories(dataDir)
      const stat = statSync(dataDir)
      if (!stat.isDirectory()) throw Object.assign(new Error("not a directory"), { code: "EEXIST" })
      if ((stat.mode & 0o077) !== 0) {
        // Only group's and others' rights go: an owner who took write away (chmod 555) keeps it away.
        const owners = stat.mode & 0o700
        chmodSync(dataDir, owners)
        process.stderr.write(
          `cdp: data dir ${dataDir} was readable by other users (mode ${(stat.mode & 0o777).toString(8)}); made it private (${owners.toString(8)})\n`)
      }
      accessSync(dataDir, constants.W_OK)
    },
    catch: (e) => e instanceof DataDirUnusable ? e : DataDirUnusable.of(dataDir, e),
  })

