// Test support: the real `cdp` command, as a child process.
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { seededBackendConfig } from "./warehouse-template.ts"

export const CDP_BIN = fileURLToPath(new URL("../../bin/cdp.js", import.meta.url))
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url))

/** `env` is added to this process's environment (a variable set to undefined is removed). */
export const runCdp = (args: ReadonlyArray<string>, options: { cwd?: string; input?: string; env?: Record<string, string | undefined> } = {}) => {
  const result = spawnSync(process.execPath, [CDP_BIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT, encoding: "utf8", input: options.input, timeout: 120_000, maxBuffer: 256 * 1024 * 1024,
    ...(options.env === undefined ? {} : {
      env: Object.fromEntries(Object.entries({ ...process.env, ...options.env }).filter(([, v]) => v !== undefined)),
    }),
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

export interface ServeProcess {
  readonly url: string
  readonly child: ChildProcess
  /** Sends SIGTERM and resolves with the exit code. */
  readonly stop: () => Promise<number | null>
  readonly stdout: () => string
}

/**
 * A data dir `cdp serve` is given that has no warehouse yet gets a copy of the run's migrated one (as the in-process
 * helpers' do: warehouse-template.ts), so its start-up applies no migration; serve always makes the warehouse, so what it
 * meets is the same. Settings serve would refuse are left for it to refuse.
 */
const seedServedDataDir = (args: ReadonlyArray<string>) => {
  const at = args.indexOf("--data-dir")
  const dataDir = at < 0 ? undefined : args[at + 1]
  if (dataDir === undefined) return
  try {
    seededBackendConfig(resolve(REPO_ROOT, dataDir))
  } catch {
    // A setting that does not parse: cdp serve says so itself.
  }
}

export const startServe = (args: ReadonlyArray<string>): Promise<ServeProcess> =>
  new Promise((resolve, reject) => {
    seedServedDataDir(args)
    const child = spawn(process.execPath, [CDP_BIN, "serve", "--port", "0", ...args], { cwd: REPO_ROOT })
    let stderr = ""
    let stdout = ""
    child.stdout.on("data", (d: Buffer) => { stdout += d.toString() })
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)))
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString()
      const m = /listening on (http:\/\/\S+)/.exec(stderr)
      if (m) {
        resolve({
          url: m[1]!, child, stdout: () => stdout,
          stop: () => { child.kill("SIGTERM"); return exited },
        })
      }
    })
    child.once("exit", (code) => reject(new Error(`cdp serve exited with ${code}: ${stderr}`)))
  })
