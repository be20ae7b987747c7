// Exports to downstream destinations, the outbound twin of ingest/sources/: one file per destination type (files.ts,
// webhook.ts, hubspot.ts, salesforce.ts), their configuration (config.ts), and the sync that feeds them (sync.ts).
export { AddressRefused, addressKind, pinnedLookup, PortRefused, type Resolver, vetHost } from "./address.ts"
export { DESTINATION_NAME, DESTINATION_NAME_RULE, type DestinationConfig, type DestinationType, findDestination, LIMITS, parseDestinations, redacted } from "./config.ts"
export { EXPORTS_PREFIX } from "./files.ts"
export { RedirectRefused, request, type RequestOptions } from "./http.ts"
export { type DestinationClient, type Operation, type OutRecord, type SendResult } from "./record.ts"
export { CURSOR_OVERLAP_MS, DRY_RUN_SHOWN, keepExportsCurrent, MAX_DRY_RUN_SHOWN, makeClient, type PlannedBatch, type PlannedTotals, replayDeadLetters, sendingAlone, syncDestination, syncDestinations, type SyncOptions, type SyncReport } from "./sync.ts"
export { SIGNATURE_HEADER, signature, verifySignature } from "./webhook.ts"
