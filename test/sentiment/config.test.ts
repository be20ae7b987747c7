import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { parseBrandTerms, readAspectsFile, readTermsFile, tenantScorers } from "../../sentiment/index.ts"

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
    const scorerFor = tenantScorers({ brand: [], aspects: readAspectsFile(file) })
    const aspects = (tenant: string, text: string) => scorerFor(tenant).score(text).aspects.map((a) => a.aspect).sort()
    expect(aspects("acme", "my reward points vanished, awful")).toEqual(["loyalty"])
    expect(aspects("globex", "my reward points vanished, awful")).toEqual([])
    expect(aspects("globex", "the size chart is wrong")).toContain("sizing")
    expect(aspects("acme", "the delivery was late")).toEqual(["delivery"])
  })

  it("refuses a malformed file with a message naming the file and the problem", () => {
    expect(() => readAspectsFile(aspectsFile("{nope"))).toThrow(/^\/.*aspects\.json is not JSON/)
    const empty = aspectsFile(JSON.stringify({ acme: { loyalty: [] } }))
    expect(() => readAspectsFile(empty)).toThrow(`${empty}: "acme"."loyalty" must be a non-empty list`)
    expect(() => readAspectsFile("/nonexistent/aspects.json")).toThrow("cannot read /nonexistent/aspects.json: ENOENT")
  })
})

describe("per-tenant terms (CDP_TERMS_FILE)", () => {
  const devsetTerms = new URL("./fixtures/devset-terms.json", import.meta.url).pathname

  it("a catalogue name that contains a valence word is not sentiment for the tenant that sells it", () => {
    const plain = tenantScorers({ brand: [], aspects: {} })("acme")
    const outfitter = tenantScorers({ brand: [], aspects: {}, terms: { outfitter: { "killer heels": 0, "restock alert": 0 } } })
    expect(plain.score("I ordered the killer heels").label).toBe("negative")
    expect(outfitter("outfitter").score("I ordered the killer heels").score).toBe(0)
    expect(outfitter("outfitter").score("got a restock alert").score).toBe(0)
    // Another tenant keeps the lexicon's sense.
    expect(outfitter("acme").score("I ordered the killer heels").label).toBe("negative")
  })

  it("a trade phrase with a valence counts with it, and the dev set's terms load from the fixture", () => {
    const scorer = tenantScorers({ brand: [], aspects: {}, terms: readTermsFile(devsetTerms) })("lumen")
    const r = scorer.score("torn seam after one wash")
    expect(r.label).toBe("negative")
    expect(r.evidence.map((e) => e.rule)).toContain("tenant")
    expect(scorer.score("Ok thanks.").score).toBe(0)
    expect(r.score).toBeLessThan(tenantScorers({ brand: [], aspects: {} })("lumen").score("torn seam after one wash").score)
  })

  it("refuses a terms file with a valence out of range, naming the file and the term", () => {
    const file = aspectsFile(JSON.stringify({ acme: { "big deal": 9 } }))
    expect(() => readTermsFile(file)).toThrow(`${file}: "acme"."big deal" must be a number from -4 to 4`)
    const list = aspectsFile("[1]")
    expect(() => readTermsFile(list)).toThrow(`${list}: must be a JSON object`)
  })

  it("refuses a terms or aspects file keyed by something no tenant can be named, naming the key", () => {
    for (const key of ["../acme", "acme corp", ""]) {
      const terms = aspectsFile(JSON.stringify({ [key]: { "big deal": 0 } }))
      expect(() => readTermsFile(terms), key).toThrow(`${terms}: "${key}" is neither "*" (every tenant) nor a tenant's name (1-64 letters`)
      const aspects = aspectsFile(JSON.stringify({ [key]: { fit: ["sizing"] } }))
      expect(() => readAspectsFile(aspects), key).toThrow(`${aspects}: "${key}" is neither "*" (every tenant) nor a tenant's name`)
    }
    expect(Object.keys(readTermsFile(aspectsFile(JSON.stringify({ "*": { a: 0 }, "acme.eu-1": { b: 1 } }))))).toEqual(["*", "acme.eu-1"])
  })
})

describe("brand terms (CDP_BRAND_TERMS)", () => {
  it("are split on commas, trimmed, and blanks dropped", () => {
    expect(parseBrandTerms(" Northwind Outdoor, @northwindoutdoor,,#northwindoutdoor ,")).toEqual(["Northwind Outdoor", "@northwindoutdoor", "#northwindoutdoor"])
    expect(parseBrandTerms("")).toEqual([])
  })
})
