// cdp serve and cdp worker run with a young generation of 8 MB halves (bin/cdp.js restartWithServerHeap): the same
// process starts itself again with the size, unless the user gave one; other commands keep node's default.
import { spawn } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { CDP_BIN, REPO_ROOT, runCdp, startServe } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

/** The command line the kernel shows for a process: what node was started with. */
const commandLine = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\u0000").filter((a) => a !== "")

/** cdp serve with `env` added; resolves once it listens, with its pid and a stop. */
const serveWith = (env: Record<string, string>) =>
  new Promise<{ pid: number; url: string; stop: () => Promise<void> }>((resolve, reject) => {
    const child = spawn(process.execPath, [CDP_BIN, "serve", "--port", "0", "--data-dir", join(dir, "data")], { cwd: REPO_ROOT, env: { ...process.env, ...env } })
    let stderr = ""
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(stderr)
      if (m) resolve({ pid: child.pid!, url: m[1]!, stop: () => new Promise((r) => { child.once("exit", () => r()); child.kill("SIGTERM") }) })
    })
    child.once("exit", (code) => reject(new Error(`cdp serve exited with ${code}: ${stderr}`)))
  })

describe.runIf(process.platform === "linux")("the young generation of long-running commands", () => {
  it("cdp serve runs as the same process with 8 MB halves, and answers", async () => {
    const server = await startServe(["--data-dir", join(dir, "data")])
    try {
      const line = commandLine(server.child.pid!)
      expect(line).toContain("--max-semi-space-size=8")
      expect(line.slice(-5)).toEqual(["serve", "--port", "0", "--data-dir", join(dir, "data")])
      expect((await fetch(`${server.url}/health`)).status).toBe(200)
    } finally {
      expect(await server.stop()).toBe(0)
    }
  }, 60_000)

  it("a size the user gave in NODE_OPTIONS is kept: no restart", async () => {
    const server = await serveWith({ NODE_OPTIONS: "--max-semi-space-size=2" })
    try {
      expect(commandLine(server.pid).some((a) => a.startsWith("--max-semi-space-size"))).toBe(false)
      expect((await fetch(`${server.url}/health`)).status).toBe(200)
    } finally {
      await server.stop()
    }
  }, 60_000)

  it("other commands, and serve's help, keep node's default", () => {
    // A preload prints the flags the command's process ran with as it ends (a command that fails too).
    const preload = join(dir, "print-flags.mjs")
    writeFileSync(preload, 'process.on("exit", () => process.stderr.write(`flags: ${JSON.stringify(process.execArgv)}\\n`))\n')
    for (const args of [["dlq", "list", "--data-dir", join(dir, "none")], ["serve", "--help"], ["worker", "-h"]]) {
      const r = runCdp(args, { env: { NODE_OPTIONS: `--import=${preload}` } })
      const flags = /flags: (.*)/.exec(r.stderr)
      expect(flags, `${args.join(" ")}: ${r.stderr}`).not.toBeNull()
      expect(JSON.parse(flags![1]!), args.join(" ")).toEqual([])
    }
  })
})
