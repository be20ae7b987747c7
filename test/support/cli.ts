// Test support: the real `cdp` command, as a child process.
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

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

export const startServe = (args: ReadonlyArray<string>): Promise<ServeProcess> =>
  new Promise((resolve, reject) => {
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
