// Local stand-ins for the destinations exports send to, answering in their documented shapes and limits:
// HubSpot contacts (batch upsert by a unique property, at most 100 inputs, 200/207 multi-status with per-input errors,
// 409 on a conflicting e-mail, 429 with policyName and X-HubSpot-RateLimit-* headers, batch archive, GDPR delete),
// Salesforce sObject Collections (upsert by external id, at most 200 records, one result per record, delete by ids,
// update by id, Sforce-Limit-Info, REQUEST_LIMIT_EXCEEDED) and a webhook receiver that checks the signature and
// applies each Idempotency-Key once. Each can be scripted per request (answer this, hang, apply then drop the
// connection) to reproduce outages; every request is recorded.
import { createHmac, randomBytes } from "node:crypto"
import http from "node:http"
import type { AddressInfo } from "node:net"

type Json = Record<string, unknown>

/** What the next request gets instead of the normal answer. */
export type Scripted =
  | { readonly kind: "answer"; readonly status: number; readonly body?: unknown; readonly headers?: Record<string, string> }
  /** Never answers (until the server closes). */
  | { readonly kind: "hang" }
  /** Does the work, then cuts the connection before answering: the sender cannot know it landed. */
  | { readonly kind: "apply-then-drop" }
  /** Does the work, then never answers (the sender is killed while it waits). */
  | { readonly kind: "apply-then-hang" }
  /** The normal answer (to script a later request). */
  | { readonly kind: "pass" }
  | { readonly kind: "drop" }

export interface Recorded {
  readonly method: string
  readonly path: string
  readonly status: number
  readonly records: number
  readonly at: number
}

interface Answer {
  readonly status: number
  readonly body?: unknown
  readonly headers?: Record<string, string>
}

export interface ReplayServer {
  readonly url: string
  readonly requests: Array<Recorded>
  /** Answers queued for the next requests, in order. */
  readonly script: Array<Scripted>
  /** Every Nth request (1-based) gets the destination's rate-limit answer (Salesforce: a 503; 0: none). */
  inject429Every: number
  readonly close: () => Promise<void>
}

const readBody = (req: http.IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", reject)
  })

const serve = async (
  handle: (req: http.IncomingMessage, url: URL, body: string) => Answer & { records?: number },
  rateLimited: () => Answer,
): Promise<ReplayServer> => {
  const sockets = new Set<import("node:net").Socket>()
  let n = 0
  const state: ReplayServer = {
    url: "", requests: [], script: [], inject429Every: 0,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy()
      server.close(() => resolve())
    }),
  }
  const server = http.createServer((req, res) => {
    void (async () => {
      const body = await readBody(req)
      const url = new URL(req.url ?? "/", "http://localhost")
      n++
      const scripted = state.script.shift()
      const record = (status: number, records = 0) => state.requests.push({ method: req.method ?? "", path: url.pathname, status, records, at: Date.now() })
      if (scripted?.kind === "hang") return record(0)
      if (scripted?.kind === "drop") {
        record(0)
        return req.socket.destroy()
      }
      let answer: Answer & { records?: number }
      if (scripted?.kind === "answer") answer = scripted
      else if (state.inject429Every > 0 && n % state.inject429Every === 0) answer = rateLimited()
      else answer = handle(req, url, body)
      const silent = scripted?.kind === "apply-then-drop" || scripted?.kind === "apply-then-hang"
      record(silent ? 0 : answer.status, answer.records ?? 0)
      if (scripted?.kind === "apply-then-drop") return req.socket.destroy()
      if (scripted?.kind === "apply-then-hang") return
      const text = answer.body === undefined ? "" : JSON.stringify(answer.body)
      res.writeHead(answer.status, { ...(text === "" ? {} : { "content-type": "application/json" }), ...answer.headers })
      res.end(text)
    })()
  })
  server.on("connection", (s) => {
    sockets.add(s)
    s.on("close", () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return Object.assign(state, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })
}

const bearer = (req: http.IncomingMessage, token: string) => req.headers.authorization === `Bearer ${token}`

// ---------------------------------------------------------------------------------------------------------------------
// HubSpot

export interface HubspotContact {
  readonly id: string
  properties: Record<string, string>
  /** How many times an upsert created it (must stay 1). */
  created: number
  updates: number
}

export interface HubspotServer extends ReplayServer {
  readonly contacts: Map<string, HubspotContact>
  readonly gdprDeleted: Array<string>
  readonly archived: Array<string>
}

/** Requests per rolling window before HubSpot answers 429 (its private-app burst limit: 100 per 10 s). */
export const hubspotServer = async (options: { token?: string; windowMax?: number; windowMs?: number } = {}): Promise<HubspotServer> => {
  const token = options.token ?? "hs-token"
  const windowMs = options.windowMs ?? 10_000
  const windowMax = options.windowMax ?? 1000
  const contacts = new Map<string, HubspotContact>()
  const gdprDeleted: Array<string> = []
  const archived: Array<string> = []
  let nextId = 1001
  let window: Array<number> = []
  const rateHeaders = () => ({
    "X-HubSpot-RateLimit-Interval-Milliseconds": String(windowMs), "X-HubSpot-RateLimit-Max": String(windowMax),
    "X-HubSpot-RateLimit-Remaining": String(Math.max(0, windowMax - window.length)),
  })
  const limited = (policyName = "TEN_SECONDLY_ROLLING"): Answer => ({
    status: 429, headers: { ...rateHeaders(), "X-HubSpot-RateLimit-Remaining": "0" },
    body: { status: "error", message: `You have reached your ${policyName.toLowerCase()} limit.`, errorType: "RATE_LIMIT", correlationId: randomBytes(8).toString("hex"), policyName },
  })
  const error = (status: number, category: string, message: string): Answer => ({ status, headers: rateHeaders(), body: { status: "error", message, category, correlationId: randomBytes(8).toString("hex") } })
  // Unique-property lookups through an index (name -> value -> contact id), as HubSpot's own unique properties are.
  const index = new Map<string, Map<string, string>>()
  const indexOf = (name: string) => {
    let m = index.get(name)
    if (m === undefined) {
      index.set(name, m = new Map())
      for (const c of contacts.values()) if (c.properties[name] !== undefined) m.set(c.properties[name]!, c.id)
    }
    return m
  }
  const byProperty = (name: string, value: string) => {
    const id = indexOf(name).get(value)
    const c = id === undefined ? undefined : contacts.get(id)
    return c !== undefined && c.properties[name] === value ? c : undefined
  }
  const reindex = (c: HubspotContact) => {
    for (const [name, m] of index) if (c.properties[name] !== undefined) m.set(c.properties[name]!, c.id)
  }
  const server = await serve((req, url, raw) => {
    const now = Date.now()
    window = window.filter((t) => t > now - windowMs)
    if (window.length >= windowMax) return limited()
    window.push(now)
    if (!bearer(req, token)) return error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
    let body: Json
    try {
      body = JSON.parse(raw) as Json
    } catch {
      return error(400, "VALIDATION_ERROR", "Invalid input JSON")
    }
    const inputs = (body["inputs"] ?? []) as Array<Json>
    if (url.pathname === "/crm/v3/objects/contacts/batch/upsert" && req.method === "POST") {
      if (!Array.isArray(inputs) || inputs.length === 0) return error(400, "VALIDATION_ERROR", "inputs must not be empty")
      if (inputs.length > 100) return error(400, "VALIDATION_ERROR", `Batch input size ${inputs.length} exceeds maximum of 100`)
      const results: Array<Json> = []
      const errors: Array<Json> = []
      for (const input of inputs) {
        const idProperty = String(input["idProperty"] ?? "")
        const id = String(input["id"] ?? "")
        const properties = (input["properties"] ?? {}) as Record<string, string>
        const existing = byProperty(idProperty, id)
        const email = properties["email"]
        if (email !== undefined && !/^[^@\s]+@[^@\s]+$/.test(email)) {
          errors.push({ status: "error", category: "VALIDATION_ERROR", message: `Property values were not valid: email`, context: { ids: [id] } })
          continue
        }
        const owner = email === undefined ? undefined : byProperty("email", email)
        if (owner !== undefined && owner !== existing) return { ...error(409, "CONFLICT", `Contact already exists. Existing ID: ${owner.id}`), records: inputs.length }
        if (existing === undefined) {
          const c: HubspotContact = { id: String(nextId++), properties: { ...properties, [idProperty]: id }, created: 1, updates: 0 }
          contacts.set(c.id, c)
          reindex(c)
          results.push({ id: c.id, properties: c.properties, new: true, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(), archived: false })
        } else {
          existing.properties = { ...existing.properties, ...properties }
          existing.updates++
          reindex(existing)
          results.push({ id: existing.id, properties: existing.properties, new: false, createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(), archived: false })
        }
      }
      const at = new Date().toISOString()
      return {
        status: errors.length > 0 ? 207 : 200, headers: rateHeaders(), records: inputs.length,
        body: { status: "COMPLETE", results, ...(errors.length > 0 ? { errors, numErrors: errors.length } : {}), startedAt: at, completedAt: at },
      }
    }
    if (url.pathname === "/crm/v3/objects/contacts/batch/archive" && req.method === "POST") {
      if (inputs.length > 100) return error(400, "VALIDATION_ERROR", `Batch input size ${inputs.length} exceeds maximum of 100`)
      for (const i of inputs) {
        contacts.delete(String(i["id"]))
        archived.push(String(i["id"]))
      }
      return { status: 204, headers: rateHeaders(), records: inputs.length }
    }
    if (url.pathname === "/crm/v3/objects/contacts/gdpr-delete" && req.method === "POST") {
      const objectId = String(body["objectId"] ?? "")
      const c = body["idProperty"] === "email" ? byProperty("email", objectId) : contacts.get(objectId)
      if (c === undefined) return error(404, "OBJECT_NOT_FOUND", "resource not found")
      contacts.delete(c.id)
      gdprDeleted.push(c.id)
      return { status: 204, headers: rateHeaders(), records: 1 }
    }
    return error(404, "OBJECT_NOT_FOUND", `no route ${req.method} ${url.pathname}`)
  }, () => limited("SECONDLY"))
  return Object.assign(server, { contacts, gdprDeleted, archived })
}

// ---------------------------------------------------------------------------------------------------------------------
// Salesforce

export interface SalesforceRecord {
  readonly Id: string
  fields: Record<string, unknown>
  created: number
}

export interface SalesforceServer extends ReplayServer {
  readonly records: Map<string, SalesforceRecord>
  readonly deleted: Array<string>
  /** Requests counted against the org's daily API budget. */
  apiUsage: number
}

export const salesforceServer = async (options: { token?: string; apiLimit?: number; required?: ReadonlyArray<string> } = {}): Promise<SalesforceServer> => {
  const token = options.token ?? "sf-token"
  const apiLimit = options.apiLimit ?? 15_000
  const required = options.required ?? ["LastName"]
  const records = new Map<string, SalesforceRecord>()
  const deleted: Array<string> = []
  const byExternal = new Map<string, string>()
  let next = 1
  const newId = () => `003${String(next++).padStart(12, "0")}AAA`
  const state = { apiUsage: 0 }
  const limitHeader = () => ({ "Sforce-Limit-Info": `api-usage=${state.apiUsage}/${apiLimit}` })
  const limitExceeded = (): Answer => ({ status: 403, headers: limitHeader(), body: [{ message: "TotalRequests Limit exceeded.", errorCode: "REQUEST_LIMIT_EXCEEDED" }] })
  const fail = (status: number, errorCode: string, message: string): Answer => ({ status, headers: limitHeader(), body: [{ message, errorCode }] })
  const server = await serve((req, url, raw) => {
    if (!bearer(req, token)) return fail(401, "INVALID_SESSION_ID", "Session expired or invalid")
    state.apiUsage++
    if (state.apiUsage > apiLimit) return limitExceeded()
    const m = /^\/services\/data\/v\d+\.\d\/composite\/sobjects(?:\/([A-Za-z_]+)\/([A-Za-z_]+))?$/.exec(url.pathname)
    if (m === null) return fail(404, "NOT_FOUND", "The requested resource does not exist")
    if (req.method === "DELETE") {
      const ids = (url.searchParams.get("ids") ?? "").split(",").filter((x) => x !== "")
      if (ids.length > 200) return fail(400, "INVALID_FIELD", "Exceeded max size limit of 200 with request size " + ids.length)
      return {
        status: 200, headers: limitHeader(), records: ids.length,
        body: ids.map((id) => {
          if (!records.has(id)) return { id, success: false, errors: [{ statusCode: "ENTITY_IS_DELETED", message: "entity is deleted", fields: [] }] }
          records.delete(id)
          deleted.push(id)
          return { id, success: true, errors: [] }
        }),
      }
    }
    if (req.method !== "PATCH") return fail(405, "METHOD_NOT_ALLOWED", `HTTP Method '${req.method}' not allowed`)
    let body: { allOrNone?: boolean; records?: Array<Json> }
    try {
      body = JSON.parse(raw) as typeof body
    } catch {
      return fail(400, "JSON_PARSER_ERROR", "Unexpected character")
    }
    const list = body.records ?? []
    if (list.length > 200) return fail(400, "INVALID_FIELD", "Exceeded max size limit of 200 with request size " + list.length)
    const [, sobject, extField] = m
    const results = list.map((r) => {
      const type = (r["attributes"] as Json | undefined)?.["type"]
      const fields = Object.fromEntries(Object.entries(r).filter(([k]) => k !== "attributes" && k !== "id"))
      if (sobject === undefined) {
        // update by record id
        const rec = records.get(String(r["id"]))
        if (rec === undefined) return { id: r["id"], success: false, errors: [{ statusCode: "ENTITY_IS_DELETED", message: "entity is deleted", fields: [] }] }
        rec.fields = { ...rec.fields, ...fields }
        return { id: rec.Id, success: true, errors: [] }
      }
      if (type !== sobject) return { success: false, errors: [{ statusCode: "INVALID_TYPE", message: `attributes.type must be ${sobject}`, fields: [] }] }
      const ext = r[extField!]
      if (typeof ext !== "string" || ext === "") return { success: false, errors: [{ statusCode: "MISSING_ARGUMENT", message: `${extField} not specified`, fields: [extField] }] }
      const id = byExternal.get(`${extField}\0${ext}`)
      const found = id === undefined ? undefined : records.get(id)
      const existing = found !== undefined && found.fields[extField!] === ext ? found : undefined
      const missing = required.filter((f) => (existing?.fields[f] ?? fields[f]) === undefined || (existing?.fields[f] ?? fields[f]) === "")
      if (missing.length > 0) return { success: false, errors: [{ statusCode: "REQUIRED_FIELD_MISSING", message: `Required fields are missing: [${missing.join(", ")}]`, fields: missing }] }
      if (existing !== undefined) {
        existing.fields = { ...existing.fields, ...fields }
        return { id: existing.Id, success: true, errors: [], created: false }
      }
      const rec: SalesforceRecord = { Id: newId(), fields, created: 1 }
      records.set(rec.Id, rec)
      byExternal.set(`${extField}\0${ext}`, rec.Id)
      return { id: rec.Id, success: true, errors: [], created: true }
    })
    return { status: 200, headers: limitHeader(), body: results, records: list.length }
  }, () => ({ status: 503, headers: { ...limitHeader(), "Retry-After": "0.2" }, body: [{ message: "Server is temporarily unavailable", errorCode: "SERVER_UNAVAILABLE" }] }))
  Object.defineProperty(server, "apiUsage", { get: () => state.apiUsage, set: (v: number) => { state.apiUsage = v } })
  return Object.assign(server as ReplayServer & { apiUsage: number }, { records, deleted })
}

// ---------------------------------------------------------------------------------------------------------------------
// Webhook receiver

export interface WebhookServer extends ReplayServer {
  /** recordId to the last fields received. */
  readonly records: Map<string, Json>
  /** Batches applied, by Idempotency-Key, with how many times each arrived (a retry arrives again, applies once). */
  readonly arrivals: Map<string, number>
  /** Upserts applied per recordId. */
  readonly applied: Map<string, number>
  readonly erased: Array<string>
  readonly badSignatures: number
}

export const webhookServer = async (secret: string): Promise<WebhookServer> => {
  const records = new Map<string, Json>()
  const arrivals = new Map<string, number>()
  const applied = new Map<string, number>()
  const erased: Array<string> = []
  let badSignatures = 0
  const server = await serve((req, _url, raw) => {
    const header = String(req.headers["cdp-signature"] ?? "")
    const parts = Object.fromEntries(header.split(",").map((p) => p.split("=", 2)))
    const t = Number(parts["t"])
    const expected = createHmac("sha256", secret).update(`${t}.${raw}`).digest("hex")
    if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > 300 || parts["v1"] !== expected) {
      badSignatures++
      return { status: 401, body: { error: "bad signature" } }
    }
    const key = String(req.headers["idempotency-key"] ?? "")
    const seen = arrivals.get(key) ?? 0
    arrivals.set(key, seen + 1)
    const body = JSON.parse(raw) as { type: string; records: Array<Json> }
    if (seen > 0) return { status: 200, body: { duplicate: true }, records: body.records.length }
    for (const r of body.records) {
      const id = String(r["recordId"])
      if (body.type === "profiles.upsert") {
        records.set(id, r)
        applied.set(id, (applied.get(id) ?? 0) + 1)
      } else {
        records.delete(id)
        if (body.type === "profiles.erase") erased.push(id)
      }
    }
    return { status: 200, body: { ok: true }, records: body.records.length }
  }, () => ({ status: 429, headers: { "Retry-After": "1" }, body: { error: "slow down" } }))
  Object.defineProperty(server, "badSignatures", { get: () => badSignatures })
  return Object.assign(server as ReplayServer & { readonly badSignatures: number }, { records, arrivals, applied, erased })
}
