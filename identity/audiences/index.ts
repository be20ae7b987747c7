// Audiences' public surface: the condition language, audiences with their edit history, previews with why each
// profile is in, membership kept current with its changes feed (audienceChangesSince, for exports), and the loop
// that keeps it current while `cdp serve` runs.
export {
  type Condition, ConditionInvalid, describeLeaf, LEAF_KINDS, type LeafKind, MAX_DEPTH, MAX_NODES, type Node, parseCondition, parseConditionText,
} from "./condition.ts"
export {
  type Audience, audienceHistory, audienceOfTenant, type AudienceInput, AudienceInvalid, AudienceNotFound, type AudienceProblem, AudienceUnusable, type AudienceVersion,
  checkCondition as checkAudienceCondition, checkPurpose as checkAudiencePurpose, refuseUnusable as refuseUnusableAudience,
  AudienceLimitReached, AudienceNameTaken, createAudience, DEFAULT_MAX_AUDIENCES, editAudience,
  getAudience, isAudienceId, listAudiences, listAudiencesPage, MAX_AUDIENCE_PAGE, MaxAudiencesRef,
} from "./audience.ts"
export { type Explained, type LeafResult, MAX_EXPLAINED_RESULTS, MAX_SAMPLE, type Preview, PREVIEW_TEXT_CHARS, previewAudience } from "./evaluate.ts"
export {
  AUDIENCE_ENTERED, AUDIENCE_EXITED, AUDIENCE_SOURCE, type AudienceChange, audienceChangesSince, audienceMembers, BadCursor, type Emit,
  MAX_CHANGES_LIMIT, refreshAudience, refreshAudienceProfiles, refreshAudiences, refreshAudiencesFor, type RefreshSummary,
} from "./membership.ts"
export { HeardChanges, keepAudiencesCurrent, type RefresherOptions } from "./refresher.ts"
