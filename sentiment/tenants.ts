// Each tenant's scorer, built from what a deployment configures (cli/config.ts reads it, with sentiment/config.ts's parsers). Kept apart from the
// configuration reader so the scoring workers load no more than the scorer (effect's load time is not theirs to pay).
import type { AspectTaxonomy } from "./aspects.ts"
import { createScorer, type ScoreOptions, type Scorer } from "./score.ts"

export interface SentimentConfig {
  /** CDP_BRAND_TERMS, comma separated: "Harbor Lane,@harborlane,#harborlane". */
  readonly brand: ReadonlyArray<string>
  /** From CDP_ASPECTS_FILE: "*" applies to every tenant, other keys to that tenant only. */
  readonly aspects: Readonly<Record<string, AspectTaxonomy>>
  /**
   * From CDP_TERMS_FILE: each tenant's catalogue and process names (0: never sentiment, "down parka") and phrases of
   * its trade with a valence (-4..+4, "torn seam": -2); "*" applies to every tenant.
   */
  readonly terms?: Readonly<Record<string, Readonly<Record<string, number>>>>
}

/** One scorer per tenant (built on first use), each with the shared and the tenant's own aspects. */
export const tenantScorers = (config: SentimentConfig, base: ScoreOptions = {}): ((tenant: string) => Scorer) => {
  const scorers = new Map<string, Scorer>()
  const shared = config.aspects["*"] ?? {}
  return (tenant) => {
    let scorer = scorers.get(tenant)
    if (scorer === undefined) {
      const own = config.aspects[tenant] ?? {}
      const aspects = { ...shared, ...own }
      const terms = { ...config.terms?.["*"], ...config.terms?.[tenant] }
      scorer = createScorer({
        ...base,
        brand: config.brand,
        ...(Object.keys(aspects).length === 0 ? {} : { aspects }),
        ...(Object.keys(terms).length === 0 ? {} : { terms }),
      })
      scorers.set(tenant, scorer)
    }
    return scorer
  }
}
