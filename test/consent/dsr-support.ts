// Test support for data-subject requests: a small landed sample (two people, through the real pipeline and embedded
// engine) and the services a request runs on.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, type Scope } from "effect"
import { auditSigner } from "../../consent/audit.ts"
import type { DsrEnv } from "../../consent/dsr.ts"
import { Keys } from "../../consent/keys.ts"
import { importFile } from "../../ingest/import.ts"
import { type PipelineServices, withPipeline } from "../support/pipeline.ts"

export const TENANT = "acme"

export const ANN = { email: "Ann.Lee@X.example", normalised: "ann.lee@x.example", phone: "+44 7700 900123", e164: "+447700900123", userId: "u-ann" }

export const SAMPLE = [
  { type: "page", name: "Home", messageId: "w-ann-1", anonymousId: "anon-ann", timestamp: "2024-09-01T10:00:00.000Z" },
  {
    type: "identify", messageId: "w-ann-2", anonymousId: "anon-ann", userId: ANN.userId, timestamp: "2024-09-01T10:05:00.000Z",
    traits: { email: ANN.email, phone: ANN.phone, name: "Ann Lee", city: "York" },
    context: { consent: { categoryPreferences: { Analytics: true, Advertising: false } } },
  },
  { type: "track", event: "Order Completed", messageId: "w-ann-3", userId: ANN.userId, timestamp: "2024-09-02T09:00:00.000Z", properties: { total: 42 } },
  { type: "identify", messageId: "w-ann-4", userId: ANN.userId, timestamp: "2024-09-05T09:00:00.000Z", traits: { name: "Ann Leigh" } },
  { type: "identify", messageId: "w-bob-1", userId: "u-bob", timestamp: "2024-09-03T09:00:00.000Z", traits: { email: "bob@z.example", name: "Bob Stone" } },
  { type: "track", event: "Order Completed", messageId: "w-bob-2", userId: "u-bob", timestamp: "2024-09-04T09:00:00.000Z", properties: { total: 7 } },
]

export type DsrServices = PipelineServices | Keys | Scope.Scope

/** Lands the sample in `dir`, then runs `program` on the same pipeline with the request services. */
export const withSample = <A, E>(dir: string, program: (env: DsrEnv) => Effect.Effect<A, E, DsrServices>) => {
  const file = join(dir, "sample.ndjson")
  writeFileSync(file, SAMPLE.map((m) => JSON.stringify(m)).join("\n"))
  const data = join(dir, "data")
  return withPipeline(data, Effect.gen(function* () {
    yield* importFile("segment", file, { tenant: TENANT })
    const env: DsrEnv = { signer: yield* auditSigner(data) }
    return yield* program(env)
  }).pipe(Effect.provide(Keys.fromDataDir(data))))
}
