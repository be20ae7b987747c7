// Test support: checks an HTTP response against ingest/openapi.json (OpenAPI 3.1, whose schemas are JSON Schema
// 2020-12, so ajv's 2020 build): the route and status must be described there, and the body must match its schema.
import { readFileSync } from "node:fs"
import { Ajv2020 } from "ajv/dist/2020.js"

const DOC_FILE = new URL("../../ingest/openapi.json", import.meta.url)
export const OPENAPI = JSON.parse(readFileSync(DOC_FILE, "utf8")) as {
  openapi: string
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>>
}

// strict: false because the document around the schemas (paths, info) is OpenAPI, not JSON Schema; formats are
// documentation here (their patterns check the shape).
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false })
ajv.addSchema(OPENAPI, "openapi")

const pointer = (segment: string) => encodeURIComponent(segment.replaceAll("~", "~0").replaceAll("/", "~1"))

/** Throws unless `body` is what the document says `GET template` answers with `status`. */
export const checkResponse = (template: string, method: string, status: number, body: unknown): void => {
  const op = OPENAPI.paths[template]?.[method.toLowerCase()]
  if (op === undefined) throw new Error(`openapi.json does not describe ${method} ${template}`)
  if (op.responses[String(status)]?.content?.["application/json"] === undefined) {
    throw new Error(`openapi.json does not describe status ${status} of ${method} ${template}`)
  }
  const ref = `openapi#/paths/${pointer(template)}/${method.toLowerCase()}/responses/${status}/content/${pointer("application/json")}/schema`
  const validate = ajv.getSchema(ref)
  if (validate === undefined) throw new Error(`no schema at ${ref}`)
  if (!validate(body)) {
    throw new Error(`${method} ${template} ${status} does not match openapi.json: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 2000)}`)
  }
}

/** The route template a path is an instance of. */
export const templateOf = (path: string): string => {
  const p = path.split("?", 1)[0]!.replace(/^\/v1\/tenants\/[^/]+\//, "/v1/")
  if (/^\/v1\/profiles\/[^/]*\/events\/?$/.test(p)) return "/v1/profiles/{identifier}/events"
  if (/^\/v1\/profiles\/[^/]*\/identifiers\/?$/.test(p)) return "/v1/profiles/{identifier}/identifiers"
  if (p.startsWith("/v1/profiles/")) return "/v1/profiles/{identifier}"
  if (p.startsWith("/v1/consent/")) return "/v1/consent/{identifier}"
  if (p === "/v1/exports" || p === "/v1/exports/run" || p === "/v1/listening/report" || p === "/v1/audit" || p === "/v1/audit/verify") return p
  if (p === "/v1/dead-letters" || p === "/v1/dead-letters/retry") return p
  if (p === "/v1/relations/compute" || p === "/v1/relations/summary" || p === "/v1/relations/report") return p
  if (p.startsWith("/v1/relations/explain/")) return "/v1/relations/explain/{identifier}"
  const exp = /^\/v1\/exports\/[^/]+(\/(status|history|run|dry-run|replay))?$/.exec(p)
  if (exp !== null) return `/v1/exports/{destination}${exp[1] ?? ""}`
  throw new Error(`no template for ${p}`)
}

/** `res` after checking it against openapi.json as an answer to `method path` (the template found from the path). */
export const checked = <R extends { readonly status: number; readonly body: unknown }>(path: string, method: string, res: R): R => {
  checkResponse(templateOf(path), method, res.status, res.body)
  return res
}
