// CDP_DESTINATIONS: each tenant's export destinations, checked against destinations.schema.json (ajv) and then per
// type (what each needs, each API's batch limit), with defaults filled in. Credentials are shown redacted.
import { isIP } from "node:net"
import type { ErrorObject } from "ajv"
import { JsonFileUnreadable, readJsonFileText } from "../json-file.ts"
import { compiledOnFirstUse, errorField } from "../schemas.ts"
import { addressKind, portRefusal } from "./address.ts"
import schema from "./destinations.schema.json" with { type: "json" }

export type DestinationType = "ndjson" | "csv" | "webhook" | "hubspot" | "salesforce"

/** One destination of one tenant, defaults filled in. */
export interface DestinationConfig {
  readonly tenant: string
  readonly name: string
  readonly type: DestinationType
  /** The consent purpose exports to it serve: only profiles that purpose may use are sent. */
  readonly purpose: string
  /** Export an audience's members (identity/audiences/) instead of every consenting profile. */
  readonly audience?: string | undefined
  /** webhook: where batches are POSTed; hubspot: the API base; salesforce: the instance URL. */
  readonly url: string
  /**
   * The URL's host name may resolve to this machine or the private network (a sidecar, an internal CRM). Without it
   * such an answer is refused at delivery time (address.ts); an address written in the URL is taken as written.
   */
  readonly privateNetwork: boolean
  /** webhook: the HMAC-SHA256 signing secret. */
  readonly secret: string
  /** hubspot: a private app token; salesforce: an OAuth access token. */
  readonly token: string
  readonly apiVersion: string
  readonly sobject: string
  readonly externalIdField: string
  readonly idProperty: string
  /**
   * Destination field to its source (profile_id, identifier:KIND, trait:NAME, first_seen, last_seen, a relationship
   * trait: relationship_type, health_score, churn_risk, sentiment_trend, relationship_as_of; =literal; "|" falls back).
   */
  readonly fields: Readonly<Record<string, string>> | undefined
  /** A withdrawal of the purpose: delete the person's record there, or only stop updating it. */
  readonly onWithdrawal: "delete" | "keep"
  /** An erasure: delete the record there (HubSpot's GDPR delete, Salesforce delete), or anonymise it (Salesforce). */
  readonly onErasure: "delete" | "anonymise"
  readonly batchSize: number
  readonly ratePerSecond: number
  readonly burst: number
  readonly maxAttempts: number
  readonly timeoutMs: number
  readonly maxRetryAfterMs: number
}

interface RawDestination {
  readonly name: string
  readonly type: DestinationType
  readonly purpose: string
  readonly [field: string]: unknown
}

type RawDestinations = Readonly<Record<string, ReadonlyArray<RawDestination>>>

const validate = compiledOnFirstUse<RawDestinations>(schema)

/** What each API takes at most in one request, and its default pace (HubSpot: 100 requests per 10 s per app). */
export const LIMITS: Readonly<Record<DestinationType, { readonly maxBatch: number; readonly ratePerSecond: number; readonly burst: number }>> = {
  ndjson: { maxBatch: 10_000, ratePerSecond: 1000, burst: 1000 },
  csv: { maxBatch: 10_000, ratePerSecond: 1000, burst: 1000 },
  webhook: { maxBatch: 500, ratePerSecond: 20, burst: 20 },
  hubspot: { maxBatch: 100, ratePerSecond: 10, burst: 10 },
  salesforce: { maxBatch: 200, ratePerSecond: 5, burst: 5 },
}

const describe = (e: ErrorObject): string => {
  const where = errorField(e) || "(top level)"
  if (e.keyword === "additionalProperties") return `${where}: unknown setting "${String(e.params["additionalProperty"])}"`
  if (e.keyword === "enum") return `${where}: must be one of ${(e.params["allowedValues"] as Array<string>).join(", ")}`
  if (e.keyword === "required") return `${where}: is required`
  if (e.keyword === "pattern" && where.includes("/fields/")) return `${where}: must be profile_id, first_seen, last_seen, relationship_type, health_score, churn_risk, sentiment_trend, ` +
    `relationship_as_of, identifier:KIND, trait:NAME or =LITERAL, "|" between fallbacks`
  return `${where}: ${e.message ?? "is not valid"}`
}

/** Parses the setting's value: JSON, or @PATH of a JSON file. Throws an Error naming the field that is wrong. */
export const parseDestinations = (text: string): ReadonlyArray<DestinationConfig> => {
  let source = text.trim()
  if (source === "") return []
  if (source.startsWith("@")) {
    const text = readJsonFileText(source.slice(1))
    if (text instanceof JsonFileUnreadable) throw new Error(text.message)
    source = text
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(source)
  } catch (e) {
    throw new Error(`not JSON: ${(e as Error).message}`)
  }
  if (!validate(parsed)) throw new Error(describe(validate.errors![0]!))
  const out: Array<DestinationConfig> = []
  for (const [tenant, list] of Object.entries(parsed)) {
    const names = new Set<string>()
    list.forEach((raw, i) => {
      const at = `/${tenant}/${i}`
      if (names.has(raw.name)) throw new Error(`${at}/name: "${raw.name}" is used twice for tenant ${tenant}`)
      names.add(raw.name)
      out.push(complete(tenant, raw, at))
    })
  }
  return out
}

/** Host names of cloud instance metadata services (they answer credentials to whoever asks from the instance). */
const METADATA_HOSTS = new Set(["metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal", "metadata.azure.internal"])
/**
 * Metadata services at addresses that are not link-local: AWS's over IPv6 (a unique-local address) and Alibaba
 * Cloud's. As the URL parser writes them ([fd00:0ec2::0254] becomes [fd00:ec2::254]); an IPv4 one also as mapped IPv6.
 */
const METADATA_ADDRESSES = new Set(["[fd00:ec2::254]", "100.100.100.200"])

/** An IPv4 address as a number, or undefined. */
const ipv4 = (host: string): number | undefined => {
  const parts = host.split(".")
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) return undefined
  return parts.reduce((n, p) => n * 256 + Number(p), 0)
}

/** The IPv4 address inside an IPv4-mapped IPv6 one as the URL parser writes it ([::ffff:a9fe:a9fe]). */
const mappedIpv4 = (host: string): string | undefined => {
  const m = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/i.exec(host)
  if (m === null) return undefined
  const hi = parseInt(m[1]!, 16)
  const lo = parseInt(m[2]!, 16)
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`
}

const isLoopback = (host: string): boolean => {
  const v4 = ipv4(mappedIpv4(host) ?? host)
  return host === "localhost" || host.endsWith(".localhost") || host === "[::1]" || (v4 !== undefined && v4 >>> 24 === 127)
}

/**
 * Where a destination may send what it exports (profiles with their identifiers, and its token): https anywhere; http
 * only to this machine (the local replay servers, a sidecar) or where the destination says `allowHttp: true`; never a
 * link-local address or a cloud metadata service, which no CRM or webhook receiver is and which answer the host's
 * credentials. The URL parser has already turned 2852039166 or 0xa9.254.169.254 into 169.254.169.254. Redirects are
 * not followed at all (http.ts). A host name is resolved and its answers checked at delivery time (address.ts).
 * Destinations come only from the operator's CDP_DESTINATIONS: no API route adds one.
 */
const checkUrl = (url: string, allowHttp: boolean, at: string): void => {
  if (!URL.canParse(url)) throw new Error(`${at}/url: is not a URL (${JSON.stringify(url.slice(0, 100))})`)
  const u = new URL(url)
  // node:http would send them as Basic credentials to whoever answers, and a dry run would print the password.
  if (u.username !== "" || u.password !== "") {
    throw new Error(`${at}/url: must not hold a user name or password (a webhook is signed with "secret"; hubspot and salesforce send "token")`)
  }
  const host = u.hostname.toLowerCase().replace(/\.$/, "")
  const v4text = mappedIpv4(host) ?? host
  const v4 = ipv4(v4text)
  if (METADATA_HOSTS.has(host)) throw new Error(`${at}/url: ${host} is a cloud metadata service, not a destination`)
  if (METADATA_ADDRESSES.has(v4text)) throw new Error(`${at}/url: ${v4text} is a cloud metadata service, not a destination`)
  if ((v4 !== undefined && v4 >>> 16 === 0xa9fe) || /^\[fe[89ab][0-9a-f]:/i.test(host)) {
    throw new Error(`${at}/url: ${v4 !== undefined && v4 >>> 16 === 0xa9fe ? v4text : host} is a link-local address (such as a cloud metadata service), not a destination`)
  }
  if (v4 === 0 || host === "[::]") throw new Error(`${at}/url: ${host} is no host to send to`)
  // Any other address no receiver has (multicast, reserved, broadcast; link-local or metadata as NAT64, 6to4 or
  // Teredo write them): refused here, naming the field, rather than at every delivery (address.ts refuses it there too).
  const written = isIP(host.replace(/^\[|\]$/g, "")) === 0 ? undefined : addressKind(host.replace(/^\[|\]$/g, ""))
  if (written !== undefined && !written.private) throw new Error(`${at}/url: ${host} is ${written.kind}, not a destination`)
  if (u.port === "0") throw new Error(`${at}/url: port 0 is no port to send to`)
  const port = portRefusal(u)
  if (port !== undefined) throw new Error(`${at}/url: ${port}`)
  if (u.protocol === "http:" && !allowHttp && !isLoopback(host)) {
    throw new Error(`${at}/url: must be https (what is exported holds personal data and the destination's token); http is taken only to this machine, or with "allowHttp": true`)
  }
}

const complete = (tenant: string, raw: RawDestination, at: string): DestinationConfig => {
  const limits = LIMITS[raw.type]
  const str = (k: string) => (typeof raw[k] === "string" ? (raw[k] as string) : undefined)
  const num = (k: string) => (typeof raw[k] === "number" ? (raw[k] as number) : undefined)
  const need = (k: string, what: string) => {
    const v = str(k)
    if (v === undefined) throw new Error(`${at}/${k}: a ${raw.type} destination needs ${what}`)
    return v
  }
  const url = raw.type === "webhook" ? need("url", "the URL batches are POSTed to")
    : raw.type === "salesforce" ? need("url", "the instance URL, e.g. https://MyDomain.my.salesforce.com")
    : raw.type === "hubspot" ? str("url") ?? "https://api.hubapi.com" : ""
  const secret = raw.type === "webhook" ? need("secret", "a signing secret of at least 16 characters") : ""
  const token = raw.type === "hubspot" ? need("token", "a private app access token")
    : raw.type === "salesforce" ? need("token", "an OAuth access token") : ""
  const batchSize = num("batchSize") ?? limits.maxBatch
  if (batchSize > limits.maxBatch) throw new Error(`${at}/batchSize: ${raw.type} takes at most ${limits.maxBatch} records a request, not ${batchSize}`)
  const onErasure = (str("onErasure") ?? "delete") as "delete" | "anonymise"
  if (onErasure === "anonymise" && raw.type !== "salesforce") throw new Error(`${at}/onErasure: "anonymise" is for salesforce destinations; ${raw.type} records are deleted`)
  if (url !== "") checkUrl(url, raw["allowHttp"] === true, at)
  for (const k of ["allowHttp", "privateNetwork"]) {
    if (raw[k] !== undefined && !usedBy["url"]!.includes(raw.type)) throw new Error(`${at}/${k}: not a setting of a ${raw.type} destination`)
  }
  for (const k of ["secret", "token", "url", "apiVersion", "sobject", "externalIdField"]) {
    if (str(k) !== undefined && !usedBy[k]!.includes(raw.type)) throw new Error(`${at}/${k}: not a setting of a ${raw.type} destination`)
  }
  if (str("idProperty") !== undefined && raw.type !== "hubspot") throw new Error(`${at}/idProperty: not a setting of a ${raw.type} destination`)
  return {
    tenant, name: raw.name, type: raw.type, purpose: raw.purpose, audience: str("audience"), url, privateNetwork: raw["privateNetwork"] === true, secret, token,
    apiVersion: str("apiVersion") ?? "v62.0", sobject: str("sobject") ?? "Contact", externalIdField: str("externalIdField") ?? "CDP_Profile_Id__c",
    idProperty: str("idProperty") ?? "cdp_profile_id",
    fields: raw["fields"] as Record<string, string> | undefined,
    onWithdrawal: (str("onWithdrawal") ?? "delete") as "delete" | "keep", onErasure, batchSize,
    ratePerSecond: num("ratePerSecond") ?? limits.ratePerSecond, burst: num("burst") ?? limits.burst,
    maxAttempts: num("maxAttempts") ?? 5, timeoutMs: num("timeoutMs") ?? 15_000, maxRetryAfterMs: num("maxRetryAfterMs") ?? 60_000,
  }
}

const usedBy: Readonly<Record<string, ReadonlyArray<DestinationType>>> = {
  secret: ["webhook"], token: ["hubspot", "salesforce"], url: ["webhook", "hubspot", "salesforce"],
  apiVersion: ["salesforce"], sobject: ["salesforce"], externalIdField: ["salesforce"],
}

/** A configured URL as it may be shown: its user, password, path and query cut. */
const redactedUrl = (url: string): string => {
  if (url === "" || !URL.canParse(url)) return url
  const u = new URL(url)
  if (u.username !== "" || u.password !== "") u.username = u.password = "***"
  // The path too: a capability URL (an incoming hook of a chat or automation service) is its own credential.
  if (u.pathname !== "/" && u.pathname !== "") u.pathname = "/***"
  if (u.search !== "") u.search = "?***"
  return u.toString()
}

/**
 * What of the destination is a credential, as a receiver may quote it back (its answer goes to the delivery log, which
 * marketers read): its token and secret, its URL's user and password, its path and query, and each of their parts long
 * enough to be a key (an incoming hook's last path segment, a ?key= value), raw and decoded. Longest first.
 */
export const credentialsOf = (d: DestinationConfig): ReadonlyArray<string> => {
  const out = new Set<string>([d.token, d.secret])
  if (d.url !== "" && URL.canParse(d.url)) {
    const u = new URL(d.url)
    const parts = [u.username, u.password, u.pathname === "/" ? "" : u.pathname.replace(/\/+$/, ""), u.search.slice(1),
      ...u.pathname.split("/"), ...u.search.slice(1).split("&").flatMap((kv) => kv.split("="))]
    for (const part of parts) {
      out.add(part)
      try {
        out.add(decodeURIComponent(part))
      } catch {
        // Not percent-encoded text: only the raw form can be quoted.
      }
    }
  }
  // Shorter parts (a path segment "cdp", a parameter name "key") are words of any answer, no secret.
  return [...out].filter((c) => c.length >= 8).sort((a, b) => b.length - a.length)
}

/** The destination as it may be shown: credentials replaced, a URL's user, password, path and query cut. */
export const redacted = (d: DestinationConfig): Record<string, unknown> => ({
  ...d, url: redactedUrl(d.url), secret: d.secret === "" ? "" : "***", token: d.token === "" ? "" : "***",
})

/**
 * A request's URL as a dry run may show it: the part the destination's configured URL wrote cut as `redacted` cuts it,
 * the API path a client adds after it (HubSpot's, Salesforce's) kept; a URL of no configured one (a file's key) as is.
 */
export const redactedRequestUrl = (d: DestinationConfig, url: string): string => {
  const base = d.url.replace(/\/+$/, "")
  if (base === "" || !url.startsWith(base)) return url
  const rest = url.slice(base.length)
  const shown = redactedUrl(d.url)
  return rest === "" ? shown : `${shown.replace(/\/+$/, "")}${rest.startsWith("/") || rest.startsWith("?") ? "" : "/"}${rest}`
}

/** The named destination of a tenant, or an Error naming the ones there are. */
/** A destination's name (CDP_DESTINATIONS' rule, destinations.schema.json): the export routes refuse any other at once. */
export const DESTINATION_NAME = new RegExp(schema.additionalProperties.items.properties.name.pattern)
export const DESTINATION_NAME_RULE = "1-63 lower-case letters, digits, '_' or '-', the first a letter or digit"

export const findDestination = (all: ReadonlyArray<DestinationConfig>, tenant: string, name: string): DestinationConfig | Error => {
  const mine = all.filter((d) => d.tenant === tenant)
  const found = mine.find((d) => d.name === name)
  if (found !== undefined) return found
  return new Error(mine.length === 0
    ? `tenant "${tenant}" has no export destinations (set CDP_DESTINATIONS)`
    : `no destination "${name}" for tenant "${tenant}" (destinations: ${mine.map((d) => d.name).join(", ")})`)
}
