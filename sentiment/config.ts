// What a deployment configures about scoring: the brand's own names (never sentiment), each tenant's own aspect
// taxonomy, added to the default aspects (product, delivery, returns, price, support, app), and each tenant's own
// terms (catalogue and process names that are never sentiment, phrases of its trade). The parsers live here; the
// settings that name the files are read in cli/config.ts, never here. Kept free of the scorer, so reading settings
// does not load it.
import { readFileSync } from "node:fs"
import { Data } from "effect"
import type { AspectTaxonomy } from "./aspects.ts"
import { TENANT_NAME, TENANT_NAME_RULE } from "../warehouse/tenant.ts"

export type { SentimentConfig } from "./tenants.ts"

/** A brand terms list, an aspects file or a terms file cdp cannot use; the reason names the file and the entry. */
export class SentimentConfigInvalid extends Data.TaggedError("SentimentConfigInvalid")<{
  readonly reason: string
}> {
  override get message() {
    return this.reason
  }
}

/** Why a file's key is not "*" nor a tenant's name (a mistyped tenant's entries would never apply), or null. */
const badTenantKey = (key: string): string | null =>
  key === "*" || TENANT_NAME.test(key) ? null : `"${key.slice(0, 80)}" is neither "*" (every tenant) nor a tenant's name (${TENANT_NAME_RULE})`

/** Checks an aspects file: {"*" | tenant: {aspect: ["keyword or phrase", ...]}}. */
export const parseAspectsConfig = (value: unknown): Record<string, AspectTaxonomy> => {
  const fail = (reason: string): never => {
    throw new SentimentConfigInvalid({ reason })
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return fail('must be a JSON object: {"*": {"aspect": ["keyword", ...]}, "tenant": {...}}')
  }
  for (const [tenant, taxonomy] of Object.entries(value)) {
    const badKey = badTenantKey(tenant)
    if (badKey !== null) return fail(badKey)
    if (taxonomy === null || typeof taxonomy !== "object" || Array.isArray(taxonomy)) return fail(`"${tenant}" must map aspect names to keyword lists`)
    for (const [aspect, words] of Object.entries(taxonomy)) {
      if (!Array.isArray(words) || words.length === 0 || !words.every((w) => typeof w === "string" && w.trim() !== "")) {
        return fail(`"${tenant}"."${aspect}" must be a non-empty list of keywords or phrases`)
      }
    }
  }
  return value as Record<string, AspectTaxonomy>
}

/**
 * Checks a terms file: {"*" | tenant: {"term or phrase": valence}}, valence from -4 to +4 (VADER's scale); 0 marks
 * a catalogue or process name that is never sentiment ("down parka", "restock alert").
 */
export const parseTermsConfig = (value: unknown): Record<string, Record<string, number>> => {
  const fail = (reason: string): never => {
    throw new SentimentConfigInvalid({ reason })
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return fail('must be a JSON object: {"*": {"term": 0, "phrase": -2}, "tenant": {...}}')
  }
  for (const [tenant, terms] of Object.entries(value)) {
    const badKey = badTenantKey(tenant)
    if (badKey !== null) return fail(badKey)
    if (terms === null || typeof terms !== "object" || Array.isArray(terms)) return fail(`"${tenant}" must map terms to valences`)
    for (const [term, valence] of Object.entries(terms)) {
      if (term.trim() === "") return fail(`"${tenant}" has an empty term`)
      if (typeof valence !== "number" || !Number.isFinite(valence) || valence < -4 || valence > 4) {
        return fail(`"${tenant}"."${term}" must be a number from -4 to 4 (0: a name, never sentiment)`)
      }
    }
  }
  return value as Record<string, Record<string, number>>
}

const readJson = (file: string): unknown => {
  let text: string
  try {
    text = readFileSync(file, "utf8")
  } catch (e) {
    throw new SentimentConfigInvalid({ reason: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` })
  }
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new SentimentConfigInvalid({ reason: `${file} is not JSON: ${(e as Error).message}` })
  }
}

const readChecked = <A>(file: string, parse: (value: unknown) => A): A => {
  const value = readJson(file)
  try {
    return parse(value)
  } catch (e) {
    throw e instanceof SentimentConfigInvalid ? new SentimentConfigInvalid({ reason: `${file}: ${e.reason}` }) : e
  }
}

/** Reads and checks an aspects file (see parseAspectsConfig); throws SentimentConfigInvalid naming the file. */
export const readAspectsFile = (file: string): Record<string, AspectTaxonomy> => readChecked(file, parseAspectsConfig)

/** Reads and checks a terms file (see parseTermsConfig); throws SentimentConfigInvalid naming the file. */
export const readTermsFile = (file: string): Record<string, Record<string, number>> => readChecked(file, parseTermsConfig)

/** Brand names, handles and hashtags, comma separated: "Harbor Lane,@harborlane,#harborlane". */
export const parseBrandTerms = (text: string): ReadonlyArray<string> =>
  text.split(",").map((t) => t.trim()).filter((t) => t !== "")
