// Public surface of the sentiment domain: a rule-based, lexicon scorer with evidence, aspects and text hygiene.
export {
  createScorer, labelOf, MODEL_VERSION, score, scoreMany, type AspectSentiment, type Evidence, type EvidenceRule,
  type ScoreOptions, type Scorer, type SentimentLabel, type SentimentResult,
} from "./score.ts"
export { compileAspects, DEFAULT_ASPECTS, type AspectTaxonomy, type CompiledAspects } from "./aspects.ts"
export { cleanText, compileBrand } from "./hygiene.ts"
export { detectLanguage } from "./language.ts"
export { classReport, evaluate, pearson, polarityOf, weightedF1, type ClassReport, type Evaluation, type Polarity } from "./evaluate.ts"
export { brandTermsFromEnv, sentimentRecord, sentimentStage } from "./stage.ts"
export { rescore, type RescoreSummary } from "./rescore.ts"
