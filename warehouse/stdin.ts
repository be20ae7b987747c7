// The embedded engine takes the host process's stdin as external data for an INSERT when stdin holds data: a regular
// file, a pipe or a socket (chdb-io/chdb-core#239). `cdp ingest web.ndjson < notes.txt`, `echo x | cdp ...`, a cron
// job or a CI step made every insert fail (Code 48), and with async inserts off the engine would take those bytes as
// rows. So before the engine opens, such a stdin is swapped for /dev/null: nothing of cdp reads stdin once the
// warehouse is open (`cdp ingest -` has saved it to a file before, cli/stdin.ts; cdp sentiment score never opens it).
import { closeSync, fstatSync, openSync } from "node:fs"

/** Swaps a stdin that can hold data for /dev/null (a terminal or /dev/null itself is left alone). */
export const keepStdinFromEngine = (): void => {
  let stat
  try {
    stat = fstatSync(0)
  } catch {
    return
  }
  if (!stat.isFile() && !stat.isFIFO() && !stat.isSocket()) return
  closeSync(0)
  // open() returns the lowest free descriptor, 0, unless another open took it in between: then this one is not needed.
  const fd = openSync("/dev/null", "r")
  if (fd !== 0) closeSync(fd)
}
