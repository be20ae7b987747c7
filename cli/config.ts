// Every setting cdp takes from its environment, read through effect's Config in this one module. A wrong value is
// one line naming the variable and what it must be (exit 1), never a stack trace. Adding a setting is one line in
// SETTINGS (variable, what it must be, its Config); read it with `readSetting` (an Effect) or `settingNow`.
import { createRequire } from "node:module"
import { Config, ConfigProvider, Data, Effect, Exit, Option, Redacted } from "effect"
import { capComputedTraits, DEFAULT_MAX_COMPUTED_TRAITS, DEFAULT_TRAIT_PRECEDENCE, type IdentityRules, parseComputedTraits, parseIdentityRules, parseTraitPrecedence, phoneRegionRefusal } from "../identity/index.ts"
import { audienceOfTenant, DEFAULT_MAX_AUDIENCES } from "../identity/audiences/index.ts"
import { DEFAULT_MAX_TOKENS } from "../ingest/auth.ts"
import { DEFAULT_POLICIES, parseConsentPolicies, policyOf } from "../consent/purposes.ts"
import { DEFAULT_RELATIONS_CONFIG, parseRelationsConfig } from "../identity/relations/index.ts"
import type { KafkaBusOptions } from "../ingest/bus-kafka.ts"
import { type DestinationConfig, parseDestinations } from "../ingest/destinations/config.ts"
import type { S3StoreOptions } from "../ingest/objectstore-s3.ts"
import type { ClickHouseServerSettings } from "../warehouse/clickhouse-server.ts"
import { parseAllowedOriginSpecs, parseWriteKeySpecs } from "../ingest/writekeys.ts"
import { sourceOptionsRefusal } from "../ingest/sources/index.ts"
import { DEFAULT_RETENTION, parseRetention } from "../warehouse/retention.ts"
import { knownSpellings, tenantNameProblem } from "../warehouse/tenant.ts"
import { type AnalystLimits, DEFAULT_ANALYST_LIMITS } from "../warehouse/analyst.ts"
import { parseBrandTerms, readAspectsFile, readTermsFile, type SentimentConfig } from "../sentiment/config.ts"

export const DEFAULT_DATA_DIR = ".cdp-data"
export const DEFAULT_PORT = 8787
export const DEFAULT_HOST = "127.0.0.1"
/**
 * The most `cdp ingest --source NAME -` saves of stdin (2 GiB): stdin is copied to the temporary directory (often a
 * RAM-backed /tmp) before it is ingested, so an endless or mistaken pipe would fill it. A file given by its path is
 * read where it lies and has no bound.
 */
export const DEFAULT_STDIN_MAX_BYTES = 2 * 1024 ** 3

/** An environment variable holds a value cdp cannot use. */
export class SettingInvalid extends Data.TaggedError("SettingInvalid")<{
  readonly variable: string
  readonly expected: string
  readonly problem: string
}> {
  override get message() {
    return `${this.variable} must be ${this.expected} (${this.problem}); fix it or unset it`
  }
}

export interface Setting<A> {
  readonly variable: string
  /** What a valid value is, in the words of the error message: "CDP_PORT must be <expected>". */
  readonly expected: string
  readonly config: Config.Config<A>
}

const setting = <A>(variable: string, expected: string, config: (variable: string) => Config.Config<A>): Setting<A> =>
  ({ variable, expected, config: config(variable) })

/** Refines a value with a check that throws its reason (the parsers cdp already has for flags). */
const checked = <A, B>(check: (value: A) => B) =>
  Config.mapEffect((value: A) => {
    try {
      return Effect.succeed(check(value))
    } catch (e) {
      return Effect.fail(new Config.ConfigError(new ConfigProvider.SourceError({ message: (e as Error).message })))
    }
  })

const optional = <A>(config: Config.Config<A>) => config.pipe(Config.option, Config.map(Option.getOrUndefined))

/** A JSON object, e.g. {"calls": {"defaultCountry": "GB"}}. */
export const parseJsonObject = (what: string) => (text: string): Record<string, unknown> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    throw new Error(`${what} is not JSON: ${(e as Error).message}`)
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error(`${what} is not a JSON object`)
  return parsed as Record<string, unknown>
}

/** CDP_SOURCE_OPTIONS: a JSON object of each source's settings, the ones every source takes (timeZone) checked here. */
const parseSourceOptions = (text: string): Record<string, unknown> => {
  const all = parseJsonObject("the value")(text)
  const refusal = sourceOptionsRefusal(all)
  if (refusal !== undefined) throw new Error(refusal)
  return all
}

const httpUrl = (text: string): string => {
  if (!/^https?:\/\//i.test(text) || !URL.canParse(text)) throw new Error(`not an http(s) URL`)
  return text
}

// Credentials in the URL would reach logs and /health with it: they go in CDP_CLICKHOUSE_USER and _PASSWORD (redacted).
const clickhouseUrl = (text: string): string => {
  const url = new URL(httpUrl(text.trim()))
  if (url.username !== "" || url.password !== "") throw new Error("it holds credentials: put them in CDP_CLICKHOUSE_USER and CDP_CLICKHOUSE_PASSWORD")
  if (url.pathname !== "/" || url.search !== "") throw new Error("it has a path or query: name the database in CDP_CLICKHOUSE_DATABASE")
  return `${url.protocol}//${url.host}`
}

// A user name or password in the URL goes out as Basic credentials (node:http), which plain http:// shows to anyone on
// the way. Destinations refuse them in every URL (they have a token or secret of their own); the alert webhook has no
// other way to authenticate, so over https:// they stay allowed.
const alertWebhookUrl = (text: string): string => {
  const url = new URL(httpUrl(text))
  if (url.protocol === "http:" && (url.username !== "" || url.password !== "")) {
    throw new Error("it holds a user name or password in an http:// URL, which would send them readable to anyone on the way: use https://, or a URL without them")
  }
  return text
}

const portInRange = (port: number) => Number.isInteger(port) && port >= 1 && port <= 65_535

/**
 * An S3-compatible server's URL, scheme and host only. Credentials in it would be echoed by every message naming the
 * endpoint (they go in CDP_S3_ACCESS_KEY_ID/_SECRET_ACCESS_KEY, redacted); a path or query the SDK would ignore or
 * misplace (the bucket goes in CDP_S3_BUCKET).
 */
const s3Endpoint = (text: string): string => {
  const trimmed = text.trim()
  // URL refuses a port past 65535 without saying why: named here, before it is parsed.
  const port = /^https?:\/\/(?:[^/@]*@)?(?:\[[^\]]*\]|[^/:?#]*):(\d+)(?:[/?#]|$)/i.exec(trimmed)?.[1]
  if (port !== undefined && !portInRange(Number(port))) throw new Error(`port ${port} is not one of 1-65535`)
  const url = new URL(httpUrl(trimmed))
  if (url.username !== "" || url.password !== "") throw new Error("it holds credentials: put them in CDP_S3_ACCESS_KEY_ID and CDP_S3_SECRET_ACCESS_KEY")
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "") throw new Error("it has a path or query: name the bucket in CDP_S3_BUCKET")
  return `${url.protocol}//${url.host}`
}

/** S3's rules for bucket names (the ones every S3-compatible server shares); another name fails the start's check unclearly. */
const s3BucketName = (text: string): string => {
  const name = text.trim()
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) || name.includes("..")) {
    throw new Error(`"${name.slice(0, 80)}" is not an S3 bucket name (3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit)`)
  }
  return name
}

const s3Region = (text: string): string => {
  const region = text.trim()
  if (!/^[a-z0-9]+(-[a-z0-9]+)*$/i.test(region) || region.length > 63) throw new Error(`"${region.slice(0, 80)}" is not a region name (letters, digits and hyphens)`)
  return region
}

const databaseName = (text: string): string => {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(text.trim())) throw new Error(`"${text}" is not a plain identifier`)
  return text.trim()
}

/** A blank value counts as unset (an empty `CDP_X=` line in a deployment file). */
const unlessBlank = <A>(parse: (text: string) => A) => (text: string): A | undefined =>
  text.trim() === "" ? undefined : parse(text)

const positiveInt = (n: number): number => {
  if (n < 1) throw new Error(`${n} is less than 1`)
  return n
}

/** A whole number from `min` to `max`. */
const between = (min: number, max: number) => (n: number): number => {
  if (n < min) throw new Error(`${n} is less than ${min}`)
  if (n > max) throw new Error(`${n} is more than ${max}`)
  return n
}

/**
 * Partitions per topic: Kafka refuses a request creating more than 10,000 partitions in all ("Excessively large number
 * of partitions per request", KRaft's controller), and cdp's start creates its 4 topics in one request. Beyond that,
 * 100,000 was taken here and the broker's refusal blamed a create.topic.policy.
 */
const MAX_KAFKA_PARTITIONS = 10_000 / 4
/**
 * A year: the topics are a buffer between the edge and the workers (the archive keeps what replay needs), and with
 * CDP_KAFKA_ENCRYPTION=off what they hold is personal data no erasure reaches until retention deletes it.
 */
const MAX_KAFKA_RETENTION_HOURS = 365 * 24

const brokerList = (text: string): ReadonlyArray<string> => {
  const brokers = text.split(",").map((b) => b.trim()).filter((b) => b !== "")
  const bad = brokers.find((b) => !/^[^\s:/]+:\d{1,5}$/.test(b))
  if (bad !== undefined) throw new Error(`"${bad}" is not host:port`)
  // Out of range, kafkajs failed the start as "Kafka at ... is unreachable", naming the broker but not the mistake.
  const outOfRange = brokers.find((b) => !portInRange(Number(b.slice(b.lastIndexOf(":") + 1))))
  if (outOfRange !== undefined) throw new Error(`"${outOfRange}" has port ${Number(outOfRange.slice(outOfRange.lastIndexOf(":") + 1))}, not one of 1-65535`)
  if (brokers.length === 0) throw new Error("no broker given")
  return brokers
}

const kafkaName = (text: string): string => {
  if (!/^[A-Za-z0-9._-]{0,100}$/.test(text)) throw new Error(`"${text}" has characters Kafka names cannot hold`)
  return text
}

/** Regions of phone numbering plans (as CDP_IDENTITY_RULES' phoneRegions): a code no plan has would read no number. */
const countryList = (text: string): ReadonlyArray<string> => {
  const codes = text.split(",").map((c) => c.trim().toUpperCase()).filter((c) => c !== "")
  const refusal = codes.map(phoneRegionRefusal).find((r) => r !== undefined)
  if (refusal !== undefined) throw new Error(refusal)
  return codes
}

/** An analyst query limit (warehouse/analyst.ts): a whole number, at least 1; unset, its DEFAULT_ANALYST_LIMITS value. */
const queryLimit = (variable: string, expected: string, field: keyof AnalystLimits) =>
  setting(variable, `${expected}, at least 1`, (v) => Config.Int(v).pipe(checked(positiveInt), Config.withDefault(DEFAULT_ANALYST_LIMITS[field])))

/** The analyst query limits, one setting a field (cdp query, POST /v1/query). */
const QUERY_LIMITS = {
  maxExecutionSeconds: queryLimit("CDP_QUERY_MAX_SECONDS", "a whole number of seconds an analyst query may run", "maxExecutionSeconds"),
  maxMemoryBytes: queryLimit("CDP_QUERY_MAX_MEMORY_BYTES", "a whole number of bytes of memory one analyst query may use", "maxMemoryBytes"),
  maxResultRows: queryLimit("CDP_QUERY_MAX_ROWS", "a whole number of rows an analyst query may return", "maxResultRows"),
  maxResultBytes: queryLimit("CDP_QUERY_MAX_BYTES", "a whole number of bytes an analyst query may return", "maxResultBytes"),
  maxRowsToRead: queryLimit("CDP_QUERY_MAX_READ_ROWS", "a whole number of rows an analyst query may read", "maxRowsToRead"),
  maxBytesToRead: queryLimit("CDP_QUERY_MAX_READ_BYTES", "a whole number of bytes an analyst query may read", "maxBytesToRead"),
  maxThreads: queryLimit("CDP_QUERY_THREADS", "a whole number of threads one analyst query may use", "maxThreads"),
  maxConcurrent: queryLimit("CDP_QUERY_SLOTS", "a whole number of analyst queries that may run at once in a process", "maxConcurrent"),
  maxConcurrentPerTenant: queryLimit("CDP_QUERY_SLOTS_PER_TENANT", "a whole number of analyst queries one tenant may run at once", "maxConcurrentPerTenant"),
} as const satisfies Record<keyof AnalystLimits, Setting<number>>

// Read on its own and by CDP_COMPUTED_TRAITS, which is checked against it.
const maxComputedTraits = setting("CDP_MAX_COMPUTED_TRAITS", "a whole number of computed traits a tenant may have, at least 1", (v) => Config.Int(v).pipe(checked(positiveInt), Config.withDefault(DEFAULT_MAX_COMPUTED_TRAITS)))

export const SETTINGS = {
  dataDir: setting("CDP_DATA_DIR", "a directory path", (v) => Config.String(v).pipe(Config.withDefault(DEFAULT_DATA_DIR))),
  port: setting("CDP_PORT", "a port number 1-65535", (v) => Config.Port(v).pipe(Config.withDefault(DEFAULT_PORT))),
  host: setting("CDP_HOST", "an interface to listen on, e.g. 127.0.0.1", (v) => Config.String(v).pipe(Config.withDefault(DEFAULT_HOST))),
  writeKeys: setting("CDP_WRITE_KEYS", "comma-separated KEY=TENANT, e.g. k1=acme,k2=globex", (v) => Config.String(v).pipe(checked((s: string) => parseWriteKeySpecs([s])), Config.withDefault([]))),
  allowedOrigins: setting("CDP_ALLOWED_ORIGINS", "comma-separated KEY=ORIGIN|ORIGIN, e.g. k1=https://shop.example", (v) => Config.String(v).pipe(checked((s: string) => (parseAllowedOriginSpecs([s]), [s])), Config.withDefault([]))),
  warehouse: setting("CDP_WAREHOUSE", "embedded or clickhouse (clickhouse needs CDP_CLICKHOUSE_URL)", (v) => Config.Literals(["embedded", "clickhouse"], v).pipe(Config.withDefault("embedded"))),
  clickhouseUrl: setting("CDP_CLICKHOUSE_URL", "the http(s) URL of a ClickHouse server, without user, password or path (used with CDP_WAREHOUSE=clickhouse)", (v) => optional(Config.String(v).pipe(checked(clickhouseUrl)))),
  clickhouseUser: setting("CDP_CLICKHOUSE_USER", "a ClickHouse user name", (v) => Config.String(v).pipe(checked((s: string) => s.trim()), Config.withDefault("default"))),
  clickhousePassword: setting("CDP_CLICKHOUSE_PASSWORD", "the password of CDP_CLICKHOUSE_USER", (v) => optional(Config.Redacted(v))),
  clickhouseDatabase: setting("CDP_CLICKHOUSE_DATABASE", "a ClickHouse database name (letters, digits, _)", (v) => Config.String(v).pipe(checked(databaseName), Config.withDefault("default"))),
  sourceOptions: setting("CDP_SOURCE_OPTIONS", 'a JSON object per source, e.g. {"calls":{"defaultCountry":"GB","timeZone":"Europe/London"}}', (v) => Config.String(v).pipe(checked(parseSourceOptions), Config.withDefault({}), Config.map((o) => o as Record<string, Record<string, unknown>>))),
  sendgridVerificationKey: setting("CDP_SENDGRID_VERIFICATION_KEY", "SendGrid's verification key (base64 DER or PEM)", (v) => optional(Config.Redacted(v))),
  xBearerToken: setting("CDP_X_BEARER_TOKEN", "an X API app-only bearer token", (v) => optional(Config.Redacted(v))),
  xQueries: setting("CDP_X_QUERIES", "a JSON array of queries, or queries separated by ';'", (v) => optional(Config.String(v))),
  xRules: setting("CDP_X_RULES", "a JSON array of {value, tag} stream rules", (v) => optional(Config.String(v))),
  xApiBase: setting("CDP_X_API_BASE", "the http(s) URL of the X API", (v) => optional(Config.String(v))),
  xPollSeconds: setting("CDP_X_POLL_SECONDS", "a whole number of seconds, at least 1", (v) => Config.Int(v).pipe(checked(positiveInt), Config.withDefault(60))),
  identity: setting("CDP_IDENTITY", "on or off (off runs without identity resolution, for measuring what identity costs)", (v) => Config.Literals(["on", "off"], v).pipe(Config.withDefault("on"))),
  identityRules: setting("CDP_IDENTITY_RULES", 'a JSON object of identity rules per tenant ("*" for every tenant), e.g. {"*":{"phoneRegions":["US","GB"]},"acme":{"emailProviderRules":false}}', (v) => Config.String(v).pipe(checked(parseIdentityRules), Config.withDefault<IdentityRules>({}))),
  traitPrecedence: setting("CDP_TRAIT_PRECEDENCE", 'a JSON object of trait sources strongest first, per tenant and trait ("*" for all), e.g. {"*":{"*":["segment:identified","email"]}}', (v) => Config.String(v).pipe(checked(parseTraitPrecedence), Config.withDefault(DEFAULT_TRAIT_PRECEDENCE))),
  computedTraits: setting("CDP_COMPUTED_TRAITS", 'a JSON object of computed traits per tenant ("*" for every tenant), e.g. {"*":[{"name":"orders_30d","kind":"count","events":["Order Completed"],"windowDays":30}]}', (v) => Config.all({ text: Config.String(v).pipe(Config.withDefault("{}")), max: maxComputedTraits.config }).pipe(checked(({ text, max }) => capComputedTraits(parseComputedTraits(text), max)))),
  maxComputedTraits,
  maxTokens: setting("CDP_MAX_TOKENS", "a whole number of active API tokens a tenant may hold, at least 1", (v) => Config.Int(v).pipe(checked(positiveInt), Config.withDefault(DEFAULT_MAX_TOKENS))),
  ...QUERY_LIMITS,
  stdinMaxBytes: setting("CDP_STDIN_MAX_BYTES", "a whole number of bytes cdp ingest may save of stdin (-) or a named pipe, at least 1", (v) => Config.Int(v).pipe(checked(positiveInt), Config.withDefault(DEFAULT_STDIN_MAX_BYTES))),
  maxAudiences: setting("CDP_MAX_AUDIENCES", "a whole number of audiences a tenant may have, at least 1", (v) => Config.Int(v).pipe(checked(positiveInt), Config.withDefault(DEFAULT_MAX_AUDIENCES))),
  phoneRegions: setting("CDP_PHONE_REGIONS", "comma-separated two-letter country codes tried in order for national phone numbers, e.g. US,GB", (v) => Config.String(v).pipe(checked(countryList), Config.withDefault(["US"]))),
  consent: setting("CDP_CONSENT", 'a JSON object of consent policies, "*" for every tenant, e.g. {"*":{"purposes":{"Analytics":{"onDenied":"drop"}}}}', (v) => Config.String(v).pipe(checked((s: string) => parseConsentPolicies(parseJsonObject("the value")(s))), Config.withDefault(DEFAULT_POLICIES))),
  relations: setting("CDP_RELATIONS", 'a JSON object overriding relational settings, e.g. {"orderEvents":["Order Completed","Purchase"]}', (v) => Config.String(v).pipe(checked(parseRelationsConfig), Config.withDefault(DEFAULT_RELATIONS_CONFIG))),
  retention: setting("CDP_RETENTION", "comma-separated STORE=MONTHS (events, texts, sentiment, identity, dead_letters, relations, archive, tokens; 0 or forever keeps until erased; default 25 months, dead_letters 6, archive and tokens 13), e.g. events=25,archive=forever", (v) => Config.String(v).pipe(checked(parseRetention), Config.withDefault(DEFAULT_RETENTION))),
  brandTerms: setting("CDP_BRAND_TERMS", "comma-separated brand names, handles and hashtags, e.g. Harbor Lane,@harborlane", (v) => Config.String(v).pipe(Config.map(parseBrandTerms), Config.withDefault<ReadonlyArray<string>>([]))),
  aspectsFile: setting("CDP_ASPECTS_FILE", 'a readable JSON file of aspects per tenant ("*" for every tenant), e.g. {"*":{"sizing":["size","fit"]}}', (v) => Config.String(v).pipe(checked(unlessBlank(readAspectsFile)), Config.map((a) => a ?? {}), Config.withDefault({}))),
  termsFile: setting("CDP_TERMS_FILE", 'a readable JSON file of terms per tenant with a valence -4..4 (0: never sentiment), e.g. {"*":{"restock alert":0}}', (v) => optional(Config.String(v).pipe(checked(unlessBlank(readTermsFile))))),
  alertWebhookUrl: setting("CDP_ALERT_WEBHOOK_URL", "the http(s) URL spike alerts are POSTed to", (v) => optional(Config.String(v).pipe(checked(unlessBlank((s) => alertWebhookUrl(s.trim())))))),
  alertWebhookPrivateNetwork: setting("CDP_ALERT_WEBHOOK_PRIVATE_NETWORK", "true or false (true: CDP_ALERT_WEBHOOK_URL's host name may resolve to this machine or the private network)", (v) => Config.Boolean(v).pipe(Config.withDefault(false))),
  objects: setting("CDP_OBJECTS", "local or s3 (s3 needs CDP_S3_BUCKET; unset: s3 when CDP_S3_BUCKET is set)", (v) => optional(Config.Literals(["local", "s3"], v))),
  s3Bucket: setting("CDP_S3_BUCKET", "the name of an existing S3 bucket (set: objects go to S3, not <data-dir>/objects)", (v) => optional(Config.String(v).pipe(checked(unlessBlank(s3BucketName))))),
  s3Endpoint: setting("CDP_S3_ENDPOINT", "the http(s) URL of an S3-compatible server, without user, password or path, e.g. http://127.0.0.1:9000 (unset: AWS)", (v) => optional(Config.String(v).pipe(checked(unlessBlank(s3Endpoint))))),
  s3Region: setting("CDP_S3_REGION", "an S3 region, e.g. eu-west-1", (v) => Config.String(v).pipe(checked((s) => unlessBlank(s3Region)(s) ?? "us-east-1"), Config.withDefault("us-east-1"))),
  s3ForcePathStyle: setting("CDP_S3_FORCE_PATH_STYLE", "true or false (true puts the bucket in the URL path, as MinIO needs)", (v) => Config.Boolean(v).pipe(Config.withDefault(false))),
  s3AccessKeyId: setting("CDP_S3_ACCESS_KEY_ID", "an S3 access key id (unset: the AWS SDK's default credentials)", (v) => optional(Config.Redacted(v))),
  s3SecretAccessKey: setting("CDP_S3_SECRET_ACCESS_KEY", "the secret of CDP_S3_ACCESS_KEY_ID", (v) => optional(Config.Redacted(v))),
  destinations: setting("CDP_DESTINATIONS", 'export destinations per tenant, JSON or @FILE, e.g. {"acme":[{"name":"crm","type":"hubspot","purpose":"Marketing","token":"..."}]}', (v) => Config.String(v).pipe(checked(parseDestinations), Config.withDefault<ReadonlyArray<DestinationConfig>>([]))),
  relationsEvery: setting("CDP_RELATIONS_EVERY", "a whole number of seconds between scheduled relationship computes of each tenant by cdp serve (0: none)", (v) => Config.Int(v).pipe(checked((n: number) => { if (n < 0) throw new Error(`${n} is negative`); return n }), Config.withDefault(86_400))),
  exportEvery: setting("CDP_EXPORT_EVERY", "a whole number of seconds between export syncs run by cdp serve, per destination (0: none)", (v) => Config.Int(v).pipe(checked((n: number) => { if (n < 0) throw new Error(`${n} is negative`); return n }), Config.withDefault(0))),
  audienceRefresh: setting("CDP_AUDIENCE_REFRESH", "on or off: whether cdp worker keeps audiences current as events land (several workers on one ClickHouse server: on in one of them only)", (v) => Config.Literals(["on", "off"], v).pipe(Config.withDefault("on"))),
  bus: setting("CDP_BUS", "memory or kafka (kafka needs CDP_KAFKA_BROKERS)", (v) => Config.Literals(["memory", "kafka"], v).pipe(Config.withDefault("memory"))),
  kafkaBrokers: setting("CDP_KAFKA_BROKERS", "comma-separated host:port of Kafka brokers, e.g. 127.0.0.1:9092", (v) => optional(Config.String(v).pipe(checked(unlessBlank(brokerList))))),
  kafkaPrefix: setting("CDP_KAFKA_PREFIX", "a prefix of Kafka topic and group names (letters, digits, . _ -)", (v) => Config.String(v).pipe(checked(kafkaName), Config.withDefault("cdp."))),
  kafkaPartitions: setting("CDP_KAFKA_PARTITIONS", `a whole number of partitions per created topic, 1-${MAX_KAFKA_PARTITIONS} (the most workers one topic can use; Kafka creates at most 10,000 partitions per request, cdp's 4 topics in one)`, (v) => Config.Int(v).pipe(checked(between(1, MAX_KAFKA_PARTITIONS)), Config.withDefault(6))),
  kafkaReplication: setting("CDP_KAFKA_REPLICATION", "the replication factor of created topics, at least 1", (v) => Config.Int(v).pipe(checked(positiveInt), Config.withDefault(1))),
  kafkaRetentionHours: setting("CDP_KAFKA_RETENTION_HOURS", `how many hours Kafka keeps records, 1-${MAX_KAFKA_RETENTION_HOURS} (a year)`, (v) => Config.Int(v).pipe(checked(between(1, MAX_KAFKA_RETENTION_HOURS)), Config.withDefault(168))),
  kafkaPartitionBy: setting("CDP_KAFKA_PARTITION_BY", "person or tenant (tenant: one worker at a time resolves a tenant's identities)", (v) => Config.Literals(["person", "tenant"], v).pipe(Config.withDefault("person"))),
  kafkaCompression: setting("CDP_KAFKA_COMPRESSION", "zstd, gzip or none (unset: zstd, or none when encryption seals the values, which compresses inside the seal)", (v) => optional(Config.Literals(["zstd", "gzip", "none"], v))),
  kafkaEncryption: setting("CDP_KAFKA_ENCRYPTION", "on or off (on: record values encrypted per person key, so an erasure shreds what the topics hold; off: plain JSON, no erasure in Kafka)", (v) => Config.Literals(["on", "off"], v).pipe(Config.withDefault("on"))),
} as const

const invalid = (s: Setting<unknown>, error: Config.ConfigError) =>
  new SettingInvalid({ variable: s.variable, expected: s.expected, problem: error.cause.message.split("\n")[0]!.trim() })

/** A setting's value from the environment (or its default). */
export const readSetting = <A>(s: Setting<A>): Effect.Effect<A, SettingInvalid> =>
  s.config.parse(ConfigProvider.fromEnv()).pipe(Effect.mapError((e) => invalid(s, e)))

/** The same, for synchronous call sites; throws SettingInvalid, which the CLI prints as one line. */
export const settingNow = <A>(s: Setting<A>): A => runNow(readSetting(s), s.variable)

const runNow = <A>(read: Effect.Effect<A, SettingInvalid>, what: string): A => {
  const exit = Effect.runSyncExit(read)
  if (Exit.isSuccess(exit)) return exit.value
  throw Exit.findErrorOption(exit).pipe(Option.getOrElse(() => new Error(`cannot read ${what}`)))
}

const requireCjs = createRequire(import.meta.url)

/**
 * CDP_* variables of `env` that no setting reads but that are a letter or two from one (CDP_WAREHUSE): a typo that
 * would otherwise leave the setting at its default without a word. Variables further from every setting (the
 * service scripts' CDP_SVC_DIR, CDP_KAFKA_PORT, ...) are not cdp's to judge.
 */
export const misspeltSettings = (env: Readonly<Record<string, string | undefined>>): Array<{ readonly variable: string; readonly meant: string }> => {
  const known = Object.values(SETTINGS).map((s) => s.variable as string)
  const unknown = Object.keys(env).filter((k) => k.startsWith("CDP_") && env[k] !== undefined && !known.includes(k))
  if (unknown.length === 0) return []
  const { DamerauLevenshteinDistance: distance } = requireCjs("natural/lib/natural/distance/levenshtein_distance") as {
    DamerauLevenshteinDistance: (a: string, b: string) => number
  }
  return unknown.flatMap((variable) => {
    const [meant, d] = known.map((k) => [k, distance(variable, k)] as const).sort((a, b) => a[1] - b[1])[0]!
    return d <= 2 ? [{ variable, meant }] : []
  })
}

/** The analyst query limits (each CDP_QUERY_* setting, or its default), read from the environment when run. */
export const analystLimits: Effect.Effect<AnalystLimits, SettingInvalid> = Effect.suspend(() => Effect.all(
  Object.fromEntries(Object.entries(QUERY_LIMITS).map(([field, s]) => [field, readSetting(s)])) as { [K in keyof AnalystLimits]: Effect.Effect<number, SettingInvalid> }))

export const analystLimitsNow = (): AnalystLimits => runNow(analystLimits, "the CDP_QUERY_* settings")

/**
 * The S3 object store's settings, or undefined for the data dir's objects/: CDP_OBJECTS chooses, and unset it follows
 * CDP_S3_BUCKET. A choice the other setting contradicts (s3 without a bucket, local with one) is refused, not guessed.
 */
export const s3Settings: Effect.Effect<S3StoreOptions | undefined, SettingInvalid> = Effect.gen(function* () {
  const objects = yield* readSetting(SETTINGS.objects)
  const bucket = yield* readSetting(SETTINGS.s3Bucket)
  if (objects === "s3" && bucket === undefined) {
    return yield* new SettingInvalid({ variable: SETTINGS.s3Bucket.variable, expected: "set when CDP_OBJECTS=s3 (an existing bucket)", problem: "it is unset" })
  }
  if (objects === "local" && bucket !== undefined) {
    return yield* new SettingInvalid({ variable: SETTINGS.s3Bucket.variable, expected: "unset when CDP_OBJECTS=local (objects stay in the data dir)", problem: `it names bucket "${bucket}"` })
  }
  if (bucket === undefined) return undefined
  const accessKeyId = yield* readSetting(SETTINGS.s3AccessKeyId)
  const secretAccessKey = yield* readSetting(SETTINGS.s3SecretAccessKey)
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    const [missing, other] = accessKeyId === undefined ? [SETTINGS.s3AccessKeyId, SETTINGS.s3SecretAccessKey] : [SETTINGS.s3SecretAccessKey, SETTINGS.s3AccessKeyId]
    return yield* new SettingInvalid({ variable: missing.variable, expected: `set together with ${other.variable}`, problem: "it is unset" })
  }
  return {
    bucket,
    endpoint: yield* readSetting(SETTINGS.s3Endpoint),
    region: yield* readSetting(SETTINGS.s3Region),
    forcePathStyle: yield* readSetting(SETTINGS.s3ForcePathStyle),
    credentials: accessKeyId === undefined || secretAccessKey === undefined ? undefined : { accessKeyId, secretAccessKey },
  }
})

export const s3SettingsNow = (): S3StoreOptions | undefined => runNow(s3Settings, "the CDP_S3_* settings")

/**
 * CDP_DESTINATIONS checked against CDP_CONSENT: a destination exports for one of its tenant's purposes, or it could
 * never run (every run failed naming the purpose, while cdp serve started and cdp export status showed nothing wrong).
 */
export const destinationsSetting: Effect.Effect<ReadonlyArray<DestinationConfig>, SettingInvalid> = Effect.gen(function* () {
  const destinations = yield* readSetting(SETTINGS.destinations)
  if (destinations.length === 0) return destinations
  const policies = yield* readSetting(SETTINGS.consent)
  for (const d of destinations) {
    const purposes = Object.keys(policyOf(policies, d.tenant).purposes)
    if (!purposes.includes(d.purpose)) {
      return yield* new SettingInvalid({
        variable: SETTINGS.destinations.variable, expected: "destinations whose purpose is one of their tenant's purposes (CDP_CONSENT)",
        problem: `destination "${d.name}" of tenant ${d.tenant} has purpose "${d.purpose}"; its purposes are ${purposes.join(", ")}`,
      })
    }
  }
  return destinations
})

/**
 * CDP_DESTINATIONS checked against the warehouse: a destination subscribed to an audience names one its tenant has
 * (or had: a deleted one's feed still sends its exits), or every run would fail. Another tenant's audience is refused
 * as an id nobody has, so the refusal does not tell whether it exists there.
 */
export const destinationAudiencesChecked = (destinations: ReadonlyArray<DestinationConfig>) =>
  Effect.forEach(destinations, (d) => d.audience === undefined ? Effect.void : audienceOfTenant(d.tenant, d.audience).pipe(
    Effect.catchTag("AudienceNotFound", (e) => Effect.fail(new SettingInvalid({
      variable: SETTINGS.destinations.variable, expected: "destinations subscribed to audiences of their own tenant",
      problem: `destination "${d.name}" of tenant ${d.tenant}: ${e.message}`,
    })))), { discard: true })

/**
 * The tenants the per-tenant settings (and the sentiment files) name, checked as a request's are (warehouse/tenant.ts; `known`: the spellings
 * with capitals the write keys name): a key "ACME" beside tenant acme configured a tenant nobody writes to, acme
 * keeping the defaults, without a word.
 */
export const settingTenantsChecked = (known: ReadonlySet<string>) =>
  Effect.gen(function* () {
    const named: ReadonlyArray<readonly [string, Iterable<string>]> = [
      [SETTINGS.consent.variable, Object.keys(yield* readSetting(SETTINGS.consent))],
      [SETTINGS.identityRules.variable, Object.keys(yield* readSetting(SETTINGS.identityRules))],
      [SETTINGS.traitPrecedence.variable, Object.keys(yield* readSetting(SETTINGS.traitPrecedence))],
      [SETTINGS.computedTraits.variable, Object.keys(yield* readSetting(SETTINGS.computedTraits))],
      [SETTINGS.destinations.variable, (yield* readSetting(SETTINGS.destinations)).map((d) => d.tenant)],
      [SETTINGS.aspectsFile.variable, Object.keys(yield* readSetting(SETTINGS.aspectsFile))],
      [SETTINGS.termsFile.variable, Object.keys((yield* readSetting(SETTINGS.termsFile)) ?? {})],
    ]
    for (const [variable, tenants] of named) {
      for (const tenant of tenants) {
        const problem = tenant === "*" ? undefined : tenantNameProblem(tenant, known)
        if (problem !== undefined) return yield* new SettingInvalid({ variable, expected: "keyed by tenants' names as requests name them", problem: `tenant ${problem}` })
      }
    }
  })

/**
 * The tenant names with capitals CDP_WRITE_KEYS names, which commands take as written (warehouse/tenant.ts); none when
 * it is unset or unreadable (cdp serve, which reads it, says what is wrong with it).
 */
export const knownTenantsNow = (): ReadonlySet<string> => {
  try {
    return knownSpellings(settingNow(SETTINGS.writeKeys).map((k) => k.tenant))
  } catch {
    return new Set()
  }
}

/** The Kafka bus's settings, or undefined when CDP_BUS is memory (the in-process bus). */
export const kafkaSettings: Effect.Effect<KafkaBusOptions | undefined, SettingInvalid> = Effect.gen(function* () {
  if ((yield* readSetting(SETTINGS.bus)) !== "kafka") return undefined
  const brokers = yield* readSetting(SETTINGS.kafkaBrokers)
  if (brokers === undefined) {
    return yield* new SettingInvalid({ variable: SETTINGS.kafkaBrokers.variable, expected: "set when CDP_BUS=kafka (host:port of the brokers)", problem: "it is unset" })
  }
  return {
    brokers,
    prefix: yield* readSetting(SETTINGS.kafkaPrefix),
    partitions: yield* readSetting(SETTINGS.kafkaPartitions),
    replication: yield* readSetting(SETTINGS.kafkaReplication),
    retentionMs: (yield* readSetting(SETTINGS.kafkaRetentionHours)) * 3_600_000,
    partitionBy: yield* readSetting(SETTINGS.kafkaPartitionBy),
    compression: yield* readSetting(SETTINGS.kafkaCompression),
  }
})

export const kafkaSettingsNow = (): KafkaBusOptions | undefined => runNow(kafkaSettings, "the CDP_KAFKA_* settings")

/** The ClickHouse server's settings when CDP_WAREHOUSE=clickhouse, else undefined (the embedded engine). */
export const clickhouseSettings: Effect.Effect<ClickHouseServerSettings | undefined, SettingInvalid> = Effect.gen(function* () {
  const url = yield* readSetting(SETTINGS.clickhouseUrl)
  if ((yield* readSetting(SETTINGS.warehouse)) === "embedded") return undefined
  if (url === undefined) {
    return yield* new SettingInvalid({ variable: SETTINGS.clickhouseUrl.variable, expected: "set when CDP_WAREHOUSE=clickhouse", problem: "it is unset" })
  }
  return {
    url,
    username: yield* readSetting(SETTINGS.clickhouseUser),
    password: yield* readSetting(SETTINGS.clickhousePassword),
    database: yield* readSetting(SETTINGS.clickhouseDatabase),
  }
})

export const clickhouseSettingsNow = (): ClickHouseServerSettings | undefined => runNow(clickhouseSettings, "the CDP_CLICKHOUSE_* settings")

/** The X/Twitter connector's variables, as `loadXConfig` takes them (it checks them and names the one that is wrong). */
export const xEnvironment = Effect.gen(function* () {
  const bearer = yield* readSetting(SETTINGS.xBearerToken)
  return {
    CDP_X_BEARER_TOKEN: bearer === undefined ? undefined : Redacted.value(bearer),
    CDP_X_QUERIES: yield* readSetting(SETTINGS.xQueries),
    CDP_X_RULES: yield* readSetting(SETTINGS.xRules),
    CDP_X_API_BASE: yield* readSetting(SETTINGS.xApiBase),
  }
})

/** The sentiment domain's configuration (brand terms, aspects and terms files), as its scorers take it. */
export const sentimentSettings: Effect.Effect<SentimentConfig, SettingInvalid> = Effect.gen(function* () {
  const terms = yield* readSetting(SETTINGS.termsFile)
  return {
    brand: yield* readSetting(SETTINGS.brandTerms),
    aspects: yield* readSetting(SETTINGS.aspectsFile),
    ...(terms === undefined ? {} : { terms }),
  }
})
