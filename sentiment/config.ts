// What a deployment configures about scoring: the brand's own names (never sentiment) and each tenant's own
// aspect taxonomy, added to the default aspects (product, delivery, returns, price, support, app).
import { readFileSync } from "node:fs"
import { Data } from "effect"
import type { AspectTaxonomy } from "./aspects.ts"
import type { SentimentConfig } from "./tenants.ts"

export { type SentimentConfig, tenantScorers } from "./tenants.ts"

export class SentimentConfigInvalid extends Data.TaggedError("SentimentConfigInvalid")<{ readonly reason: string }> {
  override get message() {
    return `CDP_ASPECTS_FILE: ${this.reason}`
  }
}

/** Checks an aspects file: {"*" | tenant: {aspect: ["keyword or phrase", ...]}}. */
export const parseAspectsConfig = (value: unknown): Record<string, AspectTaxonomy> => {
  const fail = (reason: string): never => {
    throw new SentimentConfigInvalid({ reason })
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return fail('must be a JSON object: {"*": {"aspect": ["keyword", ...]}, "tenant": {...}}')
  }
  for (const [tenant, taxonomy] of Object.entries(value)) {
    if (taxonomy === null || typeof taxonomy !== "object" || Array.isArray(taxonomy)) return fail(`"${tenant}" must map aspect names to keyword lists`)
    for (const [aspect, words] of Object.entries(taxonomy)) {
      if (!Array.isArray(words) || words.length === 0 || !words.every((w) => typeof w === "string" && w.trim() !== "")) {
        return fail(`"${tenant}"."${aspect}" must be a non-empty list of keywords or phrases`)
      }
    }
  }
  return value as Record<string, AspectTaxonomy>
}

/** Brand terms from configuration (CDP_BRAND_TERMS="Northwind Outdoor,@northwindoutdoor,#northwindoutdoor"). */
export const brandTermsFromEnv = (env: NodeJS.ProcessEnv = process.env): ReadonlyArray<string> =>
  (env["CDP_BRAND_TERMS"] ?? "").split(",").map((t) => t.trim()).filter((t) => t !== "")

export const sentimentConfigFromEnv = (env: NodeJS.ProcessEnv = process.env): SentimentConfig => {
  const brand = brandTermsFromEnv(env)
  const file = env["CDP_ASPECTS_FILE"]
  if (file === undefined || file.trim() === "") return { brand, aspects: {} }
  let text: string
  try {
    text = readFileSync(file, "utf8")
  } catch (e) {
    throw new SentimentConfigInvalid({ reason: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` })
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (e) {
    throw new SentimentConfigInvalid({ reason: `${file} is not JSON: ${(e as Error).message}` })
  }
  return { brand, aspects: parseAspectsConfig(parsed) }
}
