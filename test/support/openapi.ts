// Test support: checks an HTTP response against ingest/openapi.json (OpenAPI 3.1, whose schemas are JSON Schema
// 2020-12, so ajv's 2020 build): the route and status must be described there, and the body must match its schema.
import { readFileSync } from "node:fs"
import { Ajv2020 } from "ajv/dist/2020.js"
import { Effect } from "effect"

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

/** Every path template of openapi.json, as a pattern; literal ones first ("/v1/exports/run" before "/v1/exports/{destination}"). */
const TEMPLATES = Object.keys(OPENAPI.paths)
  .map((template) => ({ template, params: (template.match(/\{[^}]+\}/g) ?? []).length }))
  .sort((a, b) => a.params - b.params)
  .map(({ template }) => ({
    template,
    pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{[^}]+\\?\}/g, "[^/]+")}/?$`),
  }))

/** The route template a path is an instance of (a tenant-scoped /v1/tenants/T/... path is its /v1/... route). */
export const templateOf = (path: string): string => {
  const p = path.split("?", 1)[0]!.replace(/^\/v1\/tenants\/[^/]+\//, "/v1/")
  const found = TEMPLATES.find((t) => t.pattern.test(p))
  if (found === undefined) throw new Error(`openapi.json has no path template for ${p}`)
  return found.template
}

/** `res` after checking it against openapi.json as an answer to `method path` (the template found from the path). */
export const checked = <R extends { readonly status: number; readonly body: unknown }>(path: string, method: string, res: R): R => {
  checkResponse(templateOf(path), method, res.status, res.body)
  return res
}

/**
 * `method path` on the server at `base` (a body as JSON, or a string as it is), its answer checked against what the
 * document says `method template` answers (checkResponse): its status and body.
 */
export const callChecked = (base: string, template: string, method: string, path: string, body?: unknown) =>
  Effect.promise(async () => {
    const res = await fetch(`${base}${path}`, {
      method, ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) }),
    })
    const answer = (await res.json()) as Record<string, any>
    checkResponse(template, method, res.status, answer)
    return { status: res.status, body: answer }
  })
