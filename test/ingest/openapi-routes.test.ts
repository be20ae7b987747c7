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
