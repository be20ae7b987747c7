// Schemas are compiled when first used, not when their modules load: every cdp command imports every route and
// source, so what loading them compiles is paid by each command's start-up, `cdp --version` included.
import { spawnSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { compiledOnFirstUse } from "../../ingest/schemas.ts"
import { CDP_BIN, REPO_ROOT } from "../support/cli.ts"

// Loaded before cdp: counts ajv's compilations (ajv is one CommonJS module, shared by every import of it).
const COUNT_COMPILES = "data:text/javascript," + encodeURIComponent(
  "import { createRequire } from 'node:module'; const { Ajv } = createRequire(process.cwd() + '/')('ajv'); " +
    "const compile = Ajv.prototype.compile; let n = 0; Ajv.prototype.compile = function (...a) { n++; return compile.apply(this, a) }; " +
    "process.on('exit', () => process.stderr.write(`compiled ${n}\\n`))")

describe("schema validators", () => {
  it("cdp --version compiles no schema (eleven were compiled at load, most of the 70 ms of CPU for destinations nobody configured)", () => {
    const run = spawnSync(process.execPath, ["--import", COUNT_COMPILES, CDP_BIN, "--version"], { cwd: REPO_ROOT, encoding: "utf8" })
    expect(run.status).toBe(0)
    expect(run.stderr).toBe("compiled 0\n")
  })

  it("a validator compiled on first use validates as ajv's does and reports its errors", () => {
    const validate = compiledOnFirstUse<{ a: number }>({ type: "object", properties: { a: { type: "number" } }, required: ["a"] })
    expect(validate.errors).toBeNull()
    expect(validate({ a: 1 })).toBe(true)
    expect(validate.errors).toBeNull()
    expect(validate({ a: "x" })).toBe(false)
    expect(validate.errors?.[0]).toMatchObject({ instancePath: "/a", keyword: "type" })
    expect(validate({})).toBe(false)
    expect(validate.errors?.[0]).toMatchObject({ keyword: "required" })
  })
})
