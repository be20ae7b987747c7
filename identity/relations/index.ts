// Relational intelligence's public surface: each profile's relationship with the brand (type, health, churn risk,
// evidence) as of a date, built on unified profiles and signals kept current in the warehouse.
export { classify, CHURN_TERMS, type Relationship, RELATIONSHIP_TYPES, type RelationshipType } from "./classify.ts"
export {
  computeRelations, type ComputeResult, isComputing, notARunDay, ComputeRunning, dayOf, keepRelationsCurrent, PeriodInvalid, explainRelation, type Movement, NoRelationsYet, ProfileNotScored,
  relationshipTraits, type RelationExplanation, scoreProfile, scoresAsOf, summarise, type Summary,
} from "./compute.ts"
export { DEFAULT_RELATIONS_CONFIG, parseRelationsConfig, type RelationsConfig } from "./config.ts"
export { type Signals, signalsOf, signalsWhenLastSeen } from "./signals.ts"
export {
  MAX_PERIODS, periodsBetween, type RelationSeries, relationSeries, SERIES_EVERY, type SeriesEvery, type SeriesPeriod,
  type TypeMovement,
} from "./series.ts"
