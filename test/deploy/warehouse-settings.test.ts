// Choosing the warehouse backend from the environment (CDP_WAREHOUSE and the CDP_CLICKHOUSE_* settings the deploy
// manifests set): a wrong setting or an unreachable server is one line naming it, exit 1; the embedded engine stays
// the default even when a server URL is exported (deploy/services/up exports one for the integration tests).
import { createServer } from "node:net"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { clickhouseSettings } from "../../cli/config.ts"
import { expectOneLineError } from "../support/cli-expect.ts"
import { runCdp } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

/** A port nothing listens on: bound, then released. */
const closedPort = () => new Promise<number>((resolve) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as { port: number }
    server.close(() => resolve(port))
  })
})

describe("warehouse backend settings", () => {
  let dir: string
  beforeEach(() => { dir = freshDir() })
  afterEach(() => removeDir(dir))

  /** What reading the settings says with exactly these CDP_* variables set. */
  const readWith = (env: Record<string, string>) => {
    const saved = { ...process.env }
    for (const k of Object.keys(process.env)) if (k.startsWith("CDP_")) delete process.env[k]
    Object.assign(process.env, env)
    try {
      return Effect.runSync(Effect.result(clickhouseSettings))
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
      Object.assign(process.env, saved)
    }
  }

  it("a wrong CDP_WAREHOUSE or CDP_CLICKHOUSE_* setting names the variable and what it must be", () => {
    const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
      [{ CDP_WAREHOUSE: "mysql" }, "CDP_WAREHOUSE must be embedded or clickhouse"],
      [{ CDP_WAREHOUSE: "clickhouse" }, "CDP_CLICKHOUSE_URL must be set when CDP_WAREHOUSE=clickhouse"],
      [{ CDP_WAREHOUSE: "clickhouse", CDP_CLICKHOUSE_URL: "http://admin:hunter2@ch.example:8123" }, "put them in CDP_CLICKHOUSE_USER and CDP_CLICKHOUSE_PASSWORD"],
      [{ CDP_WAREHOUSE: "clickhouse", CDP_CLICKHOUSE_URL: "http://ch.example:8123/analytics" }, "name the database in CDP_CLICKHOUSE_DATABASE"],
      [{ CDP_WAREHOUSE: "clickhouse", CDP_CLICKHOUSE_URL: "http://ch.example:8123", CDP_CLICKHOUSE_DATABASE: "cdp; DROP" }, "CDP_CLICKHOUSE_DATABASE must be"],
    ]
    for (const [env, names] of cases) {
      const result = readWith(env)
      expect(result._tag, JSON.stringify(env)).toBe("Failure")
      const message = (result as { failure: Error }).failure.message
      expect(message).toContain(names)
      expect(message).not.toContain("hunter2")
    }
    const ok = readWith({ CDP_WAREHOUSE: "clickhouse", CDP_CLICKHOUSE_URL: "https://ch.example:8443", CDP_CLICKHOUSE_USER: "cdp", CDP_CLICKHOUSE_PASSWORD: "pw" })
    expect(ok._tag === "Success" && { ...ok.success, password: undefined }).toEqual({ url: "https://ch.example:8443", username: "cdp", password: undefined, database: "default" })
    expect(readWith({ CDP_CLICKHOUSE_URL: "http://ch.example:8123" })).toMatchObject({ _tag: "Success", success: undefined })
  })

  it("the CLI says a wrong setting in one line, exit 1", () => {
    const r = runCdp(["query", "SELECT 1", "--data-dir", join(dir, "data")], {
      env: { CDP_WAREHOUSE: "clickhouse", CDP_CLICKHOUSE_URL: "http://admin:hunter2@ch.example:8123" },
    })
    expectOneLineError(r, "CDP_CLICKHOUSE_URL must be")
    expect(r.stderr).not.toContain("hunter2")
  })

  it("an unreachable server is one line naming its URL, exit 1, without the password", async () => {
    const port = await closedPort()
    const r = runCdp(["query", "SELECT 1", "--data-dir", join(dir, "data")], {
      env: { CDP_WAREHOUSE: "clickhouse", CDP_CLICKHOUSE_URL: `http://127.0.0.1:${port}`, CDP_CLICKHOUSE_PASSWORD: "s3cret-pass" },
    })
    expectOneLineError(r, `cannot reach the ClickHouse server at http://127.0.0.1:${port}`)
    expect(r.stderr).not.toContain("s3cret-pass")
  })

  it("a server URL alone does not switch the backend: without CDP_WAREHOUSE=clickhouse the embedded engine answers", async () => {
    const port = await closedPort()
    // Makes the embedded warehouse (dlq retry no longer makes a data dir that is not there).
    expect(runCdp(["ingest", "--source", "segment", "ingest/samples/web.ndjson", "--data-dir", join(dir, "data")]).status).toBe(0)
    const r = runCdp(["query", "SELECT 41 + 1 AS answer", "--data-dir", join(dir, "data")], {
      env: { CDP_WAREHOUSE: undefined, CDP_CLICKHOUSE_URL: `http://127.0.0.1:${port}` },
    })
    expect(r.stderr).toBe("")
    expect(r.status).toBe(0)
    expect(r.stdout).toContain("42")
  })
})
