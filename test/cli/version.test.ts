// `cdp --version` answers from package.json alone, and `cdp --help` from cli/help.ts: both loaded every command's
// modules first (224 of cdp's own, 712 in all, the warehouse's and its engine client's among them), about half a second
// of CPU to print a few lines.
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { CDP_BIN, REPO_ROOT } from "../support/cli.ts"

// Loaded before cdp: on exit, names on stderr every module cdp loaded of its own (repo-relative) and of its packages.
const LIST_MODULES = "data:text/javascript," + encodeURIComponent(
  "import { registerHooks } from 'node:module'; const seen = []; " +
    "registerHooks({ load(url, context, next) { seen.push(url); return next(url, context) } }); " +
    `process.on('exit', () => process.stderr.write(seen.filter((u) => u.startsWith('file:')).map((u) => u.slice(${JSON.stringify(new URL(`file://${REPO_ROOT}`).href)}.length)).join('\\n') + '\\n'))`)

const version = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version

describe("cdp --version", () => {
  for (const flag of ["--version", "-V"]) {
    it(`${flag} prints the package's version and loads none of the commands' modules`, () => {
      const r = spawnSync(process.execPath, ["--import", LIST_MODULES, CDP_BIN, flag], { cwd: REPO_ROOT, encoding: "utf8" })
      expect([r.status, r.stdout]).toEqual([0, `${version}\n`])
      const loaded = r.stderr.trim().split("\n")
      expect(loaded).toContain("bin/cdp.js")
      expect(loaded.filter((m) => /^(cli|warehouse|ingest|identity|consent|sentiment)\/|node_modules\//.test(m))).toEqual([])
    })
  }
})

describe("cdp --help", () => {
  // What commander prints from the whole command tree (cli/main.ts run by itself, as bin/cdp.js runs it for a command).
  const whole = spawnSync(process.execPath, [join(REPO_ROOT, "cli", "main.ts"), "--help"], { cwd: REPO_ROOT, encoding: "utf8" })

  for (const flag of ["--help", "-h"]) {
    it(`${flag} prints the help of the whole command tree and loads none of the commands' modules`, () => {
      expect(whole.status).toBe(0)
      expect(whole.stdout).toMatch(/^Usage: cdp \[options\] \[command\]\n/)
      const r = spawnSync(process.execPath, ["--import", LIST_MODULES, CDP_BIN, flag], { cwd: REPO_ROOT, encoding: "utf8" })
      expect([r.status, r.stdout]).toEqual([0, whole.stdout])
      const loaded = r.stderr.trim().split("\n")
      expect(loaded.filter((m) => /^(cli|warehouse|ingest|identity|consent|sentiment)\/|node_modules\//.test(m) && !/^cli\/help\.ts$|^node_modules\/commander\//.test(m))).toEqual([])
    })
  }
})
