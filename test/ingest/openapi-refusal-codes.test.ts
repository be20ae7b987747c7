// ingest/openapi.json names every refusal code the product answers with, so a client generated from it (or a reader of
// it) knows each `rule` it can be told. The codes come from the product's own source text, in the shapes refusals are
// made in: a route's `refuse(status, "code", ...)`, a source's `refuse(..., "code", ...)`, a rejection's
// `rule: "code"`, Segment's `rejection("code", ...)`, and the schema rules of ingest/sources/items.ts (`make("code", ...)`). A code made up at run time
// (`bad_${name}`) is not found this way.
import { readdirSync, readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { WEBHOOK_SOURCES } from "../../ingest/sources/index.ts"
import { OPENAPI } from "../support/openapi.ts"

const INGEST = new URL("../../ingest/", import.meta.url)
const SHAPES = [
  /\brefuse\((?:\d{3}|\w+)?\s*,?\s*"([a-z][a-z0-9_]*)"/g,
  /\brule:\s*"([a-z][a-z0-9_]*)"/g,
  /\bmake\(\s*"([a-z][a-z0-9_]*)"/g,
  /\brejection\(\s*"([a-z][a-z0-9_]*)"/g,
]

const sourceFiles = (readdirSync(INGEST, { recursive: true }) as Array<string>).filter((f) => f.endsWith(".ts"))
const codesIn = (file: string): ReadonlySet<string> => {
  const text = readFileSync(new URL(file, INGEST), "utf8")
  return new Set(SHAPES.flatMap((shape) => [...text.matchAll(shape)].map((m) => m[1]!)))
}
const CODES = new Map(sourceFiles.map((f) => [f, codesIn(f)]))
const ALL = new Set([...CODES.values()].flatMap((s) => [...s]))

const schemas = (OPENAPI as unknown as { components: { schemas: Record<string, unknown> } }).components.schemas
/** A code counts as named where the text shows it as code: `code` in a description. */
const names = (text: string, code: string) => text.includes(`\`${code}\``)

describe("openapi.json names the refusal codes the product answers", () => {
  it("finds the codes it checks (the shapes still match how refusals are made)", () => {
    // Known codes of each shape: if these go unfound, the scan no longer sees what it is meant to.
    for (const code of ["not_found", "too_many_keys", "missing_field", "ingest_busy", "bad_timestamp"]) expect(ALL).toContain(code)
    expect(ALL.size).toBeGreaterThan(100)
  })

  it("every refusal code of the source is named in the document", () => {
    const doc = JSON.stringify(OPENAPI)
    const missing = [...CODES].flatMap(([file, codes]) => [...codes].filter((c) => !names(doc, c)).map((c) => `${c} (ingest/${file})`))
    expect(missing.sort()).toEqual([])
  })

  it("a webhook source's own codes are named on its route, and the shared item rules on WebhookRejected", () => {
    const shared = JSON.stringify(schemas["WebhookRejected"])
    const missing: Array<string> = []
    // A mail file that cannot be read is a code of `cdp ingest` only (a post is bytes already read): named with the
    // dead letters' rules, not on the route.
    const FILE_ONLY = new Set(["unreadable_file"])
    for (const name of WEBHOOK_SOURCES.keys()) {
      const route = JSON.stringify(OPENAPI.paths[`/v1/webhooks/${name}`]?.["post"] ?? {})
      for (const code of CODES.get(`sources/${name}.ts`) ?? []) if (!FILE_ONLY.has(code) && !names(route, code)) missing.push(`${code} (POST /v1/webhooks/${name})`)
    }
    for (const file of ["json.ts", "sources/items.ts"]) {
      for (const code of CODES.get(file) ?? []) if (!names(shared, code)) missing.push(`${code} (WebhookRejected, ingest/${file})`)
    }
    expect(missing.sort()).toEqual([])
  })
})
