// The one registry of every store that holds (or could hold) personal data: each warehouse table, each object-store
// area, the process's memories and the logs, with what personal fields it holds, how a subject's rows are found in
// it, and how they are exported and erased. consent/erasure.ts works through this list; a test compares it with the
// warehouse's tables and the object store's areas, so a new store cannot be forgotten by erasure.
import type { TableLocator } from "../warehouse/erasure.ts"

export { type ErasureCount, ErasureIncomplete, eraseSubject, exportSubject, type StoreRows, verifyErased } from "./erasure.ts"

export interface TableEntry {
  readonly kind: "table"
  readonly name: string
  /** The module that owns the table's SQL. */
  readonly owner: string
  /** Personal fields, in words ("" for none). */
  readonly personal: string
  /**
   * "rows": the subject's rows are exported and erased (`locate` says how they are found);
   * "keyed": holds keyed hashes only, never identifiers (kept; the verification scan still checks it);
   * "none": no personal data (a view's rows are its base tables');
   * "truncate": a cache of other tables' data, emptied whole (rebuilt from them);
   * "tenant": a cache of other tables' data kept per tenant: the subject's tenant's rows deleted (rebuilt from them);
   * "shred": keys that open other stores' records, deleted by the keyed hash of the subject's person keys.
   */
  readonly erasure: "rows" | "keyed" | "none" | "truncate" | "tenant" | "shred"
  readonly locate?: Omit<TableLocator, "table">
  readonly why?: string
}

export interface ObjectAreaEntry {
  readonly kind: "objects"
  /** Key prefix of the area ("archive/"). */
  readonly prefix: string
  /**
   * Key prefix of one tenant's objects in the area, as its owner lays them out: an erasure, which is one tenant's,
   * looks there only (another tenant's objects naming the same address are another controller's data).
   */
  readonly tenantPrefix?: (tenant: string) => string
  readonly owner: string
  readonly personal: string
  readonly found: string
  readonly erasure: string
}

export interface LocalEntry {
  readonly kind: "memory" | "logs" | "files" | "external"
  readonly name: string
  readonly owner: string
  readonly personal: string
  readonly found: string
  readonly erasure: string
}

export type RegistryEntry = TableEntry | ObjectAreaEntry | LocalEntry

const byMessage = (needleMatch: "delete" | "redact", profile?: ReadonlyArray<string>): Omit<TableLocator, "table"> =>
  ({ messageId: "message_id", needleMatch, ...(profile === undefined ? {} : { profileIds: profile }) })

export const TABLES: ReadonlyArray<TableEntry> = [
  { kind: "table", name: "schema_migrations", owner: "warehouse/migrate.ts", personal: "", erasure: "none" },
  {
    kind: "table", name: "event_rows", owner: "warehouse/sink.ts", erasure: "rows",
    personal: "user_id, anonymous_id, identifiers (e-mail, phone, handles), traits (names, addresses), context (IP, user agent), properties",
    locate: byMessage("redact", ["profile_id"]),
    why: "the subject's messages are deleted; another's message that mentions an identifier keeps its row with the identifier cut out",
  },
  { kind: "table", name: "events", owner: "warehouse/migrations/011", personal: "", erasure: "none", why: "a view over event_rows" },
  { kind: "table", name: "profiles", owner: "warehouse/migrations/013", personal: "", erasure: "none", why: "a view over events, identity_nodes, sentiment" },
  { kind: "table", name: "profile_traits", owner: "warehouse/migrations/056", personal: "", erasure: "none", why: "a view over events (each profile's traits)" },
  {
    kind: "table", name: "texts", owner: "warehouse/sink.ts", erasure: "rows", personal: "text (free text)",
    locate: byMessage("redact", ["profile_id"]),
  },
  {
    kind: "table", name: "sentiment", owner: "warehouse/sink.ts, warehouse/sentiment.ts", erasure: "rows",
    personal: "evidence (words copied from the text)", locate: byMessage("redact", ["profile_id"]),
  },
  {
    kind: "table", name: "alerts", owner: "warehouse/sentiment.ts", erasure: "rows", personal: "none by design (counts); checked",
    locate: { needleMatch: "redact" },
  },
  {
    kind: "table", name: "dead_letters", owner: "warehouse/sink.ts, warehouse/dead-letters.ts", erasure: "rows",
    personal: "payload (whole messages), field, reason",
    locate: { ...byMessage("delete"), mail: "payload" },
    why: "no subject column: found by message id, or by an identifier of the subject anywhere in the payload (a raw mail's also inside its MIME encodings)",
  },
  {
    kind: "table", name: "dead_letter_outcomes", owner: "warehouse/dead-letters.ts", erasure: "rows", personal: "reason, message_id",
    locate: { ...byMessage("delete"), linked: { column: "dead_letter_id", fromTable: "dead_letters", fromColumn: "dead_letter_id" } },
  },
  {
    kind: "table", name: "identity_observations", owner: "warehouse/identity.ts", erasure: "rows",
    personal: "sightings (identifiers normalised and as sent), refused values",
    locate: byMessage("redact"),
    why: "another's message that saw the subject's identifier keeps its row without that sighting",
  },
  {
    kind: "table", name: "identity_sightings", owner: "warehouse/identity.ts", erasure: "rows",
    personal: "value, sightings (identifiers normalised)", locate: byMessage("redact"),
    why: "identity_observations again under each identifier: another's message that saw the subject's identifier keeps its rows without it",
  },
  { kind: "table", name: "identity_links", owner: "warehouse/identity.ts", erasure: "rows", personal: "a, b (identifiers)", locate: byMessage("delete") },
  {
    kind: "table", name: "identity_claims", owner: "warehouse/identity.ts", erasure: "rows", personal: "a, b (identifiers)", locate: byMessage("delete"),
    why: "identity_links' refused claims again, by message (written by the engine's view from identity_links)",
  },
  { kind: "table", name: "identity_claims_mv", owner: "warehouse/identity.ts", personal: "", erasure: "none", why: "a materialized view writing to identity_claims" },
  { kind: "table", name: "event_profiles", owner: "warehouse/identity.ts", erasure: "rows", personal: "profile_id", locate: byMessage("delete", ["profile_id"]) },
  {
    kind: "table", name: "profile_merges", owner: "warehouse/identity.ts", erasure: "rows", personal: "from_profile, to_profile, reason",
    locate: { needleMatch: "delete", profileIds: ["from_profile", "to_profile"] },
  },
  {
    kind: "table", name: "identity_nodes", owner: "warehouse/identity.ts", erasure: "rows", personal: "value (identifier)",
    locate: { needleMatch: "delete", profileIds: ["profile_id"] },
  },
  {
    kind: "table", name: "identity_operations", owner: "warehouse/identity.ts", erasure: "rows", personal: "a, b (identifiers), reason",
    locate: { needleMatch: "delete" },
  },
  {
    kind: "table", name: "profile_documents", owner: "warehouse/profile-documents.ts", erasure: "tenant",
    personal: "document (a profile read's answer: identifiers, traits, events, consent)",
    why: "a cache of profile reads: the subject's tenant's emptied on erasure (after the rows it is built from), built again from the erased tables",
  },
  {
    kind: "table", name: "identity_snapshots", owner: "identity/snapshot.ts", erasure: "truncate",
    personal: "chunk (the whole identity graph, identifiers included, encoded)",
    why: "a start-up cache of the graph: emptied on erasure, the next start loads the (erased) observations",
  },
  {
    kind: "table", name: "relation_scores", owner: "identity/relations/", erasure: "rows", personal: "profile_id, signals",
    locate: { needleMatch: "delete", profileIds: ["profile_id"] },
  },
  { kind: "table", name: "relation_runs", owner: "identity/relations/", personal: "", erasure: "none", why: "counts per run" },
  {
    kind: "table", name: "relation_activity_daily", owner: "identity/relations/", erasure: "rows", personal: "profile_id (daily activity)",
    locate: { needleMatch: "delete", profileIds: ["profile_id"] },
  },
  { kind: "table", name: "relation_activity_mv", owner: "identity/relations/", personal: "", erasure: "none", why: "a materialized view writing to relation_activity_daily" },
  {
    kind: "table", name: "relation_voice_daily", owner: "identity/relations/", erasure: "rows", personal: "profile_id, message ids, scores",
    locate: { needleMatch: "delete", profileIds: ["profile_id"] },
  },
  { kind: "table", name: "relation_voice_mv", owner: "identity/relations/", personal: "", erasure: "none", why: "a materialized view writing to relation_voice_daily" },
  { kind: "table", name: "trait_precedence", owner: "identity/ (migration 016)", personal: "", erasure: "none", why: "configuration: trait names and sources" },
  {
    kind: "table", name: "computed_trait_states", owner: "warehouse/computed-traits.ts", erasure: "rows", personal: "profile_id, values of the profile's events (first/last/most frequent)",
    locate: { needleMatch: "delete", profileIds: ["profile_id"] },
  },
  { kind: "table", name: "computed_trait_definitions", owner: "warehouse/computed-traits.ts", personal: "", erasure: "none", why: "configuration: trait names, event names, property names" },
  { kind: "table", name: "computed_trait_events_mv", owner: "warehouse/computed-traits.ts", personal: "", erasure: "none", why: "a materialized view writing to computed_trait_states" },
  { kind: "table", name: "computed_trait_sentiment_mv", owner: "warehouse/computed-traits.ts", personal: "", erasure: "none", why: "a materialized view writing to computed_trait_states" },
  { kind: "table", name: "computed_traits", owner: "warehouse/migrations/075", personal: "", erasure: "none", why: "a view over computed_trait_states" },
  {
    kind: "table", name: "consent_ledger", owner: "consent/ledger.ts", erasure: "rows", personal: "profile_id, proof (the message that carried the consent)",
    locate: byMessage("delete", ["profile_id"]),
    why: "an erased person's consent history goes with them: the suppression list and the DSR record prove the erasure",
  },
  { kind: "table", name: "consent_current", owner: "consent/ledger.ts", personal: "", erasure: "none", why: "a view over consent_ledger" },
  {
    kind: "table", name: "suppressions", owner: "consent/suppression.ts", erasure: "keyed",
    personal: "keyed hashes of identifiers only",
  },
  {
    kind: "table", name: "dsr_requests", owner: "consent/dsr.ts", erasure: "keyed",
    personal: "keyed hashes of identifiers only; the request row is the record that the erasure happened",
  },
  {
    kind: "table", name: "profile_restrictions", owner: "consent/dsr.ts", erasure: "rows", personal: "profile_id",
    locate: { needleMatch: "delete", profileIds: ["profile_id"] },
  },
  {
    kind: "table", name: "subject_restrictions", owner: "consent/restriction.ts", erasure: "keyed",
    personal: "keyed hashes of identifiers only (restrictions, resolved to profiles when asked)",
  },
  {
    kind: "table", name: "api_tokens", owner: "warehouse/tokens.ts", personal: "", erasure: "none",
    why: "API tokens as SHA-256 hashes, roles, tenants, scopes and an operator's label (documented: not for personal data)",
  },
  { kind: "table", name: "api_token_uses", owner: "warehouse/tokens.ts", personal: "", erasure: "none", why: "token ids and times" },
  {
    kind: "table", name: "operations", owner: "warehouse/operations.ts", personal: "", erasure: "none",
    why: "background operations: kinds, dates asked, token ids, counts of what they did (no profile, identifier or text)",
  },
  {
    kind: "table", name: "audience_versions", owner: "warehouse/audiences.ts", erasure: "rows",
    personal: "none by design (names, purposes, conditions, operators); a condition could name a person's identifier: checked",
    locate: { needleMatch: "redact" },
    why: "a condition that names the subject's identifier keeps its row with the identifier cut out",
  },
  {
    kind: "table", name: "audience_members", owner: "warehouse/audiences.ts", erasure: "rows", personal: "profile_id, why (trait values that matched)",
    locate: { needleMatch: "delete", profileIds: ["profile_id"] },
  },
  {
    kind: "table", name: "audience_changes", owner: "warehouse/audiences.ts", erasure: "rows", personal: "profile_id, cause (trait values that matched)",
    locate: { needleMatch: "delete", profileIds: ["profile_id"] },
    why: "an erased person's entries and exits go with them; exports learn of the erasure from the erasure itself",
  },
  {
    kind: "table", name: "export_state", owner: "warehouse/exports.ts", erasure: "rows",
    personal: "profile_id, the destination's record id of the profile",
    locate: { needleMatch: "delete", profileIds: ["profile_id"] },
    why: "read first by the erasure's export step (queueExportErasures), which queues the destinations' deletions; then erased like any table",
  },
  {
    kind: "table", name: "export_dead_letters", owner: "warehouse/exports.ts", erasure: "rows", personal: "profile_id, reason (a destination's words)",
    locate: { needleMatch: "delete", profileIds: ["profile_id"] },
  },
  {
    kind: "table", name: "export_deliveries", owner: "warehouse/exports.ts", erasure: "rows",
    personal: "none by design (counts, statuses); detail holds a destination's error text, which may quote a value: checked",
    locate: { needleMatch: "redact" },
  },
  { kind: "table", name: "export_cursors", owner: "warehouse/exports.ts", personal: "", erasure: "none", why: "a time and an audience feed position per destination" },
  {
    kind: "table", name: "bus_data_keys", owner: "warehouse/bus-keys.ts", erasure: "shred",
    personal: "none readable: keyed hashes of person keys and data keys wrapped under the deployment's secret; they open the Kafka topics' records",
    why: "an erasure deletes the keys of every person key of the subject (consent/erasure.ts shredBusKeys), which shreds their records still on the topics",
  },
  {
    kind: "table", name: "export_erasures", owner: "warehouse/exports.ts", erasure: "keyed",
    personal: "destinations' record ids of erased people only (no identifier, no profile id): the record that the erasure was sent on",
  },
]

/** Tables only an erasure in progress makes (Memory engine, dropped when it ends). */
export const SCRATCH_TABLE_PREFIX = "_erasure_"

export const OBJECT_AREAS: ReadonlyArray<ObjectAreaEntry> = [
  {
    kind: "objects", prefix: "archive/", owner: "ingest/archive.ts",
    personal: "every accepted raw message (bodies: identifiers, names, free text, IPs); manifests hold counts and checksums only",
    found: "by message id, or by an identifier of the subject anywhere in a record's body",
    erasure: "each batch holding the subject is rewritten without their records (others' records mentioning them are redacted), and its manifest entry gets the new count, size and SHA-256",
  },
  {
    kind: "objects", prefix: "connectors/", tenantPrefix: (tenant) => `connectors/x/${tenant}/`, owner: "ingest/social/x-client.ts",
    personal: "none: poll cursors (tweet ids) and the operator's queries",
    found: "checked by identifier", erasure: "an object that names the subject is removed (the poller then starts its window again)",
  },
  {
    kind: "objects", prefix: "dsr/", tenantPrefix: (tenant) => `dsr/bundles/${tenant}/`, owner: "consent/bundle.ts",
    personal: "access and portability bundles (everything held about one subject, zipped)",
    found: "by the subject's identifiers or profile id inside the zip (opened)",
    erasure: "every bundle holding the subject is removed",
  },
  {
    kind: "objects", prefix: "exports/", tenantPrefix: (tenant) => `exports/${tenant}/`, owner: "ingest/destinations/files.ts",
    personal: "NDJSON and CSV exports of profiles (identifiers, traits) and removal lists (profile ids)",
    found: "by the subject's identifiers or profile id in an export file",
    erasure: "every export file naming the subject is removed (its other profiles are sent again by the next run only if they change)",
  },
  {
    kind: "objects", prefix: "audit/", owner: "consent/audit.ts",
    personal: "keyed hashes of identifiers only (hash-chained, signed entries)",
    found: "checked by identifier", erasure: "kept: the record that the erasure happened",
  },
]

export const LOCAL: ReadonlyArray<LocalEntry> = [
  {
    kind: "memory", name: "the sink's recent message ids", owner: "warehouse/sink.ts", personal: "message ids",
    found: "by message id", erasure: "forgotten in every sink of the process (warehouse/sink.ts forgetMessages)",
  },
  {
    kind: "memory", name: "the identity graph of a running pipeline", owner: "identity/resolver.ts", personal: "identifiers",
    found: "by identifier", erasure: "rebuilt from the stored observations when the pipeline restarts (the stored ones are erased)",
  },
  {
    kind: "logs", name: "logs (stdout/stderr)", owner: "every module", personal: "none by rule: counts and keyed hashes only",
    found: "checked by the erasure proof test", erasure: "nothing to erase",
  },
  {
    kind: "external", name: "export destinations (HubSpot, Salesforce, webhooks)", owner: "ingest/destinations/",
    personal: "the profiles each destination was sent (its field mapping: e-mail, names, phone, traits)",
    found: "by the destination's record id, kept per profile in export_state",
    erasure: "queued in export_erasures as the erasure starts; the next `cdp export run` sends HubSpot's GDPR delete, deletes or anonymises the Salesforce record, posts profiles.erase to a webhook, and retries until the destination confirms",
  },
  {
    kind: "external", name: "Kafka topics (CDP_BUS=kafka): events, dead_letters, raw, identity_changes, *.parked", owner: "ingest/bus-kafka.ts",
    personal: "messages as received (identifiers, traits, free text, raw bodies), encrypted per person key (CDP_KAFKA_ENCRYPTION=on, the default)",
    found: "by the keyed hash of a person key (the record's header and Kafka key), never by content",
    erasure: "crypto-shredded: the data keys of the subject's person keys are deleted from bus_data_keys and dropped from every process's cache (a notice on identity_changes); the records stay until CDP_KAFKA_RETENTION_HOURS and can no longer be opened. With CDP_KAFKA_ENCRYPTION=off: nothing until retention",
  },
  {
    kind: "files", name: "keyed-hash secret, write keys, admin token, lock files", owner: "consent/keys.ts, cli/", personal: "none",
    found: "-", erasure: "nothing to erase",
  },
]

export const REGISTRY: ReadonlyArray<RegistryEntry> = [...TABLES, ...OBJECT_AREAS, ...LOCAL]

/** The table's entry, or undefined when the registry does not cover it. */
export const tableEntry = (name: string): TableEntry | undefined =>
  name.startsWith(SCRATCH_TABLE_PREFIX) ? { kind: "table", name, owner: "warehouse/erasure.ts", personal: "", erasure: "none" } : TABLES.find((t) => t.name === name)

/** The object area a key belongs to, or undefined. */
export const areaOf = (key: string): ObjectAreaEntry | undefined => OBJECT_AREAS.find((a) => key.startsWith(a.prefix))
