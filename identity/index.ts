// Identity resolution's public surface: the pipeline stage that gives each message its person's profile, rebuild,
// profile reading and explanation, duplicate suggestions, and the pieces they are made of.
export { type ErasedIdentity, type IdentityConfig, type IdentityStage, defaultIdentityConfig, makeIdentityStage, RunningGraph } from "./stage.ts"
export { identityConfigOf, type IdentityRules, IdentityRulesInvalid, parseIdentityRules } from "./config.ts"
export { extractConfigFor } from "./extract.ts"
export {
  BadReason, checkReason, type DecisionResult, decideSuggestion, openSuggestions, readIdentifier, type Reload, separateIdentifiers, splitIdentifier, SuggestionDecided, UnknownSuggestion,
} from "./decisions.ts"
export { DEFAULT_TRAIT_PRECEDENCE, parseTraitPrecedence, syncTraitPrecedence, type TraitPrecedence } from "./traits.ts"
export {
  type ComputedTrait, type ComputedTraitDefinition, type ComputedTraits, capComputedTraits, DEFAULT_MAX_COMPUTED_TRAITS, parseComputedTraits, parseDefinition, type Preview, previewComputedTrait, shownPreview,
  syncComputedTraits,
} from "./computed-traits.ts"
export { rebuildIdentity, type RebuildSummary } from "./rebuild.ts"
export { type Operation, recordOperation } from "./operations.ts"
export {
  BadIdentifier, BadIdentifierCursor, buildProfileDocuments, DEFAULT_IDENTIFIER_PAGE, type IdentifierPage, identifierLimit, type IdentifierRef, parseIdentifier,
  type ProfileDocument, ProfileNotFound, profileIdentifiers, profileIdOf, profilePhoneRuns, profileScopeOf, type ProfileView, readProfileView, readProfileViewOf,
  showProfile, viewOfDocument,
} from "./profile.ts"
export { type Explanation, explainIdentifiers } from "./explain.ts"
export {
  BadTimelineQuery, DEFAULT_TIMELINE_LIMIT, MAX_TIMELINE_LIMIT, profileTimeline, readTimelineQuery, TIMELINE_KEY_SHAPE, type TimelineEvent, timelineList,
  type TimelinePage, type TimelineParams, type TimelineQuery,
} from "./timeline.ts"
export { findSuggestions, type ProfileSummary, type Suggestion } from "./suggestions.ts"
export { type IdentifierKind, IDENTIFIER_KINDS, normaliseIdentifier, phoneNumbers, phoneRegionRefusal, phoneToE164 } from "./normalise.ts"
export { DEFAULT_GRAPH_RULES, type GraphRules, isProfileId, profileIdFor, resolveGraph } from "./graph.ts"
export {
  type GraphState, IdentityResolver, type Needed, type OperatorDecisions, type PartMove, type ProfileChange, type ResolveResult, TenantGraph,
} from "./resolver.ts"
