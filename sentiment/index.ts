// Public surface of the sentiment domain: a rule-based, lexicon scorer with evidence, aspects and text hygiene,
// and social listening (report, spam filter, emerging topics, spike alerts).
export {
  createScorer, labelOf, MAX_SCORED_CHARS, MODEL_VERSION, score, scoreMany, type AspectSentiment, type Evidence, type EvidenceRule,
  type ScoreOptions, type Scorer, type SentimentLabel, type SentimentResult,
} from "./score.ts"
export { compileAspects, DEFAULT_ASPECTS, type AspectTaxonomy, type CompiledAspects } from "./aspects.ts"
export { cleanText, compileBrand } from "./hygiene.ts"
export { detectLanguage } from "./language.ts"
export {
  classReport, evaluate, evaluateLabels, LabelledFileInvalid, macroRecall, parseLabelLines, parseRatedLines, parseTextLines, pearson,
  polarityOf, weightedF1, type ClassReport, type Evaluation, type LabelEvaluation, type Polarity, type RatedText,
} from "./evaluate.ts"
export { sentimentRecord, sentimentStage } from "./stage.ts"
export { defaultPoolSize, makeScoringPool, type ScoreRequest, type ScoringPool, type ScoringPoolOptions } from "./pool.ts"
export { rescore, type RescoreSummary } from "./rescore.ts"
export {
  alertId, InvalidPeriod, listenReport, MAX_REPORT_DAYS, parseSince, parseUntil, periodTooLong, SinceInFuture, type AlertPayload, type ListenAspect,
  type ListenAuthor, type ListenDay, type ListenOptions, type ListenReport, type ListenSpike, type SpikeKind,
} from "./listen.ts"
export { renderListenText } from "./report-text.ts"
export { renderListenHtml } from "./report-html.ts"
export { type ListenRelationships, type ListenTypeMovement, relationshipsHtml, relationshipsText } from "./report-relations.ts"
export {
  createSpamFilter, shippedTraining, spamTokens, type MentionFeatures, type SpamFilter, type SpamFilterOptions,
  type SpamReason, type SpamVerdict, type TrainingExample,
} from "./spam.ts"
export { createTermExtractor, emergingTopics, type EmergingTopic, type TopicOptions } from "./topics.ts"
export {
  baselineAt, DEFAULT_SPIKE_OPTIONS, detectSpikes, median, medianAbsoluteDeviation, type Baseline, type Spike,
  type SpikeOptions,
} from "./spikes.ts"
export {
  parseAspectsConfig, parseBrandTerms, parseTermsConfig, readAspectsFile, readTermsFile, SentimentConfigInvalid,
} from "./config.ts"
export { type SentimentConfig, tenantScorers } from "./tenants.ts"
