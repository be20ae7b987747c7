import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { sentimentConfigFromEnv, tenantScorers } from "../../sentiment/index.ts"

const dirs: Array<string> = []
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })
const aspectsFile = (content: string) => {
  const dir = mkdtempSync(join(tmpdir(), "cdp-aspects-"))
  dirs.push(dir)
  const file = join(dir, "aspects.json")
  writeFileSync(file, content)
  return file
}

describe("per-tenant aspect taxonomy", () => {
  it("adds the shared and the tenant's own aspects to the defaults, for that tenant only", () => {
    const file = aspectsFile(JSON.stringify({ "*": { sizing: ["size chart", "fit"] }, acme: { loyalty: ["reward points"] } }))
    const scorerFor = tenantScorers(sentimentConfigFromEnv({ CDP_ASPECTS_FILE: file }))
    const aspects = (tenant: string, text: string) => scorerFor(tenant).score(text).aspects.map((a) => a.aspect).sort()
    expect(aspects("acme", "my reward points vanished, awful")).toEqual(["loyalty"])
    expect(aspects("globex", "my reward points vanished, awful")).toEqual([])
    expect(aspects("globex", "the size chart is wrong")).toContain("sizing")
    expect(aspects("acme", "the delivery was late")).toEqual(["delivery"])
  })

  it("refuses a malformed file with a message naming the problem", () => {
    expect(() => sentimentConfigFromEnv({ CDP_ASPECTS_FILE: aspectsFile("{nope") })).toThrow(/CDP_ASPECTS_FILE: .* is not JSON/)
    expect(() => sentimentConfigFromEnv({ CDP_ASPECTS_FILE: aspectsFile(JSON.stringify({ acme: { loyalty: [] } })) })).toThrow(/"acme"."loyalty" must be a non-empty list/)
    expect(() => sentimentConfigFromEnv({ CDP_ASPECTS_FILE: "/nonexistent/aspects.json" })).toThrow(/cannot read/)
  })
})
