// Test support for consent: a real pipeline (identity, consent, sentiment; in-process bus; embedded ClickHouse in a
// fresh dir) with a given consent policy, and the policy in force for the ledger's questions.
import { Effect, Layer, Logger, type Scope } from "effect"
import { busLayer, objectStoreLayer, warehouseLayer } from "../../cli/layers.ts"
import { type ConsentPolicies, ConsentPoliciesRef, DEFAULT_POLICIES, type KeysShape, parseConsentPolicies } from "../../consent/index.ts"
import { defaultIdentityConfig } from "../../identity/index.ts"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { Pipeline } from "../../ingest/pipeline.ts"
import { eventOn } from "../support/events.ts"
import type { PipelineServices } from "../support/pipeline.ts"
import { seededBackendConfig } from "../support/warehouse-template.ts"

export const policiesOf = (json?: Record<string, unknown>): ConsentPolicies => json === undefined ? DEFAULT_POLICIES : parseConsentPolicies(json)

/**
 * Runs `program` against a real pipeline on `dataDir` whose consent policy is `json` (default: the built-in one); a data
 * dir without a warehouse gets a copy of the run's migrated one (test/support/warehouse-template.ts).
 */
export const withConsent = <A, E>(
  dataDir: string, program: Effect.Effect<A, E, PipelineServices | Scope.Scope>, json?: Record<string, unknown>, keys?: KeysShape,
) => {
  const config = seededBackendConfig(dataDir)
  const policies = policiesOf(json)
  const layer = Pipeline.make({ identity: defaultIdentityConfig(), consent: policies, keys }).pipe(
    Layer.provideMerge(busLayer(config).pipe(Layer.provideMerge(Layer.mergeAll(warehouseLayer(config), objectStoreLayer(config))))))
  return Effect.runPromise(Effect.scoped(program).pipe(
    Effect.provide(layer), Effect.provideService(ConsentPoliciesRef, policies), Effect.provide(Logger.layer([]))))
}

/** A web message of tenant acme at `iso` (a full ISO time) or on day N of October 2024. */
export const web = (messageId: string, at: string | number, fields: Partial<CanonicalEvent> = {}): CanonicalEvent =>
  eventOn(messageId, typeof at === "number" ? at : 1, {
    ...(typeof at === "string" ? { timestamp: at } : {}), ...fields,
  })

export const prefs = (p: Record<string, boolean>) => ({ consent: { categoryPreferences: p } })

export const ALL = (value: boolean) =>
  ({ Analytics: value, Advertising: value, Personalization: value, CrmSync: value, SocialListening: value })

export const submit = (events: ReadonlyArray<CanonicalEvent>) =>
  Effect.gen(function* () {
    const pipeline = yield* Pipeline
    yield* pipeline.submit(events, [], { archive: false })
    return pipeline
  })
