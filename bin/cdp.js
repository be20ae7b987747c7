#!/usr/bin/env node
// The `cdp` command. Node 24 runs the TypeScript sources directly (type stripping).
// First, before anything uses it: libuv's thread pool, which runs each statement of the embedded engine (chDB) to its
// end and every file operation, has 4 threads unless UV_THREADPOOL_SIZE says otherwise, read once when the pool starts.
// cdp serve runs statements on several connections at once (the pipeline's, API reads, previews, analyst queries):
// 8 statements of SELECT sleep(1) on their own connections took 2.0 s with 4 threads, 1.0 s with 16, and while 4
// statements ran every file read or write waited. A value the user set (not empty) is kept.
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = "16"
const [major] = process.versions.node.split(".").map(Number)
if (major < 22) {
  process.stderr.write(
    `cdp: Node ${process.versions.node} is too old; cdp needs Node >= 22.12. Run it through npm (npx cdp ...), ` +
      "which uses the Node 24 that `npm ci` installed into node_modules/.bin.\n",
  )
  process.exit(1)
}
// `cdp --version` alone answers from package.json, and `cdp --help` alone from cli/help.ts (commander only): the
// commands' modules (700 of them, the warehouse's and its engine client's among them) took about half a second of CPU
// to load for a few lines. With other arguments (a command's --help too), the whole command tree answers.
const args = process.argv.slice(2)
/** Each half of the young generation of cdp serve and cdp worker, in MB (restartWithServerHeap). */
const SERVER_SEMI_SPACE_MB = 8
restartWithServerHeap()
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
  const { readFileSync } = await import("node:fs")
  process.stdout.write(`${JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version}\n`)
} else if (args.length === 1 && (args[0] === "--help" || args[0] === "-h")) {
  const { printTopLevelHelp } = await import("../cli/help.ts")
  printTopLevelHelp()
} else {
  await start()
}

async function start() {
  // Ctrl-C before the modules are loaded (about half a second) says so in one line, as one later does.
  const { stopEarlyOnSignals } = await import("../cli/early-stop.ts")
  stopEarlyOnSignals()
  process.env.DOTENV_CONFIG_QUIET ??= "true"
  // The data dir holds personal data and secrets: whatever cdp creates (dirs, warehouse files, archive, reports) is
  // readable by its owner only (0700 / 0600).
  process.umask(0o077)
  // V8's compiled code of the sources (TypeScript stripped) is kept between runs, in the user's cache dir (not a shared
  // temp dir another user could write): about a third of a command's start-up CPU.
  const { enableCompileCache } = await import("node:module")
  const { homedir } = await import("node:os")
  const { join } = await import("node:path")
  enableCompileCache?.(process.env.NODE_COMPILE_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "cdp", "compile"))
  await import("../cli/main.ts")
}

/**
 * `cdp serve` and `cdp worker` answer requests for as long as they run, so their garbage collector's pauses are
 * requests' latency. V8 lets the young generation grow to 64 MB a half on a machine of this size, and a scavenge pauses
 * the process for as long as it takes to copy what survives: a server reading profiles keeps what it answers (its
 * answer cache) and has some requests under way, so each scavenge copied 13 MB twice and paused every request then
 * under way 25-32 ms, several times a second under load. With halves of 8 MB the scavenges come more often and each
 * copies an eighth as much. The size is read once, when the engine starts, so the process starts itself again with it
 * (process.execve: the same process id, descriptors and environment; a kill -9 still ends it). A size the user gave
 * (in NODE_OPTIONS or on node's command line) is kept, as is everything on a platform without execve.
 */
function restartWithServerHeap() {
  if (args[0] !== "serve" && args[0] !== "worker") return
  if (args.includes("--help") || args.includes("-h")) return
  if (typeof process.execve !== "function") return
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)]
  if (given.some((a) => /^--(max-semi-space-size|semi-space-growth-factor|min-semi-space-size)\b/.test(a))) return
  process.execve(process.execPath, [process.execPath, `--max-semi-space-size=${SERVER_SEMI_SPACE_MB}`, ...process.execArgv, process.argv[1], ...args], process.env)
}
