// ingest/openapi.json describes every route the collector serves, and serves every route it describes. The served
// routes come from the router's own tables (API_ROUTES with a handler, the Segment routes and their aliases, the
// webhook sources, /health), so a route added there without its description fails here.
import { describe, expect, it } from "vitest"
import { API_ROUTES, matchApiRoute } from "../../ingest/auth.ts"
import { SEGMENT_ROUTES } from "../../ingest/segment-api.ts"
import { WEBHOOK_SOURCES } from "../../ingest/sources/index.ts"
import { OPENAPI } from "../support/openapi.ts"

// A documented template as a concrete path: each {parameter} becomes a value of the shape the router takes.
const concrete = (template: string) => template.replace(/\{[^}]+\}/g, "x1")
const documented = Object.keys(OPENAPI.paths)
const operations = (path: string) => {
  const item = OPENAPI.paths[path] as Record<string, unknown> & { $ref?: string }
  const target = item.$ref === undefined ? item : OPENAPI.paths[decodeURIComponent(item.$ref.replace("#/paths/", "")).replaceAll("~1", "/").replaceAll("~0", "~")]!
  return Object.keys(target).filter((k) => ["get", "post", "put", "patch", "delete", "head"].includes(k))
}

describe("openapi.json and the collector's routes", () => {
  it("every API route the collector serves is described", () => {
    const missing = API_ROUTES.filter((route) => !documented.some((p) => route.matches(concrete(p))))
    expect(missing.map((r) => r.template)).toEqual([])
  })

  it("every Segment route and its one-letter alias is described, with an operation", () => {
    const missing = [...SEGMENT_ROUTES.keys()].filter((name) => !documented.includes(`/v1/${name}`) || operations(`/v1/${name}`).length === 0)
    expect(missing).toEqual([])
  })

  it("every webhook source is described", () => {
    const missing = [...WEBHOOK_SOURCES.keys()].filter((name) => !documented.includes(`/v1/webhooks/${name}`) || !operations(`/v1/webhooks/${name}`).includes("post"))
    expect(missing).toEqual([])
  })

  it("every described path is one the collector serves", () => {
    const served = (path: string) => {
      const p = concrete(path)
      if (p === "/health") return true
      if (matchApiRoute({ url: p, headers: {} } as never) !== undefined) return true
      const hook = /^\/v1\/webhooks\/([a-z]+)$/.exec(p)
      if (hook !== null) return WEBHOOK_SOURCES.has(hook[1]!)
      const m = /^\/v1\/([a-z]+)$/.exec(p)
      return m !== null && SEGMENT_ROUTES.has(m[1]!)
    }
    expect(documented.filter((p) => !served(p))).toEqual([])
  })
})

describe("openapi.json names the refusals the Segment routes answer", () => {
  /** What the document says of a status of POST on a route: its description and the schemas it refers to. */
  const said = (path: string, status: string) => {
    const response = OPENAPI.paths[path]!["post"]!.responses[status]!
    const schemas = (OPENAPI as unknown as { components: { schemas: Record<string, unknown> } }).components.schemas
    return JSON.stringify(response) + JSON.stringify([schemas["SegmentRefusal"], schemas["SegmentRejected"]])
  }

  it("every route names bad_write_key on 401 and duplicate_key and bad_consent on 400", () => {
    for (const path of ["/v1/track", "/v1/identify", "/v1/page", "/v1/screen", "/v1/group", "/v1/alias", "/v1/batch", "/v1/import"]) {
      expect(said(path, "401"), path).toContain("bad_write_key")
      for (const rule of ["duplicate_key", "bad_consent"]) expect(said(path, "400"), `${path} ${rule}`).toContain(rule)
    }
  })

  it("the batch routes name a batch's context or integrations of the wrong type, a messageId twice, and too many consent strings", () => {
    for (const path of ["/v1/batch", "/v1/import"]) {
      for (const rule of ["duplicate_message_id", "too_many_consent_strings"]) expect(said(path, "400"), `${path} ${rule}`).toContain(rule)
      // The code before it covered GPP strings too (pre-release: not kept as another name).
      expect(said(path, "400"), path).not.toContain("too_many_tcf_strings")
      expect(OPENAPI.paths[path]!["post"]!.responses["400"]).toMatchObject({ description: expect.stringContaining("batch_context_not_object") })
      expect(OPENAPI.paths[path]!["post"]!.responses["400"]).toMatchObject({ description: expect.stringContaining("batch_integrations_not_object") })
    }
  })
})
