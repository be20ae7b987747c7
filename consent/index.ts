// Consent's public surface: the purposes and each tenant's policy, the signals a message carries, the ledger and the
// one function to ask ("may this profile be used for purpose P?"), and the pipeline stage that records and enforces.
export {
  type ConsentPolicies, type ConsentPolicy, ConsentPoliciesRef, ConsentPolicyInvalid, DEFAULT_POLICIES, DEFAULT_POLICY, DEFAULT_PURPOSES,
  governingPurpose, type LawfulBasis, parseConsentPolicies, policyOf, type PurposePolicy,
} from "./purposes.ts"
export { type ConsentSignal, PREFERENCE_UPDATED, readSignals, gppOverBudget, gppProblem, readTcf, CONSENT_BUDGET_CPU_MS, CONSENT_BUDGET_WORK, type ConsentBudget, consentBudget, type ConsentBudgetLimits, consentBudgetSpent, tcfOverBudget, tcfProblem, US_PRIVACY } from "./readers.ts"
export {
  type ConsentChange, consentHistory, consentingProfiles, consentingProfilesSql, type ConsentState, consentState, recordConsent,
  refusingProfiles, refusingProfilesOfChannel, stateFromRows, UnknownPurpose,
} from "./ledger.ts"
export { consentDropReason, makeConsentStage, makeSuppressionStage, SUPPRESSED, type SuppressionCheck, suppressionStage } from "./stage.ts"
export { identifierKey, Keys, type KeysShape, loadSecret, makeKeys } from "./keys.ts"
export { stripPersonal, STRIPPED_MARK } from "./strip.ts"
export { type ConsentScope, consentOfScopeColumns, consentViewOfRows, type ConsentView, showConsent, showConsentOfMessages, showConsentPage } from "./show.ts"
