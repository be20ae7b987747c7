import { describe, expect, it } from "vitest"
import { DEFAULT_POLICY, parseConsentPolicies, policyOf } from "../../consent/index.ts"

describe("consent policies (CDP_CONSENT)", () => {
  it("lays a tenant's settings over '*', and '*' over the built-in policy, purpose by purpose", () => {
    const policies = parseConsentPolicies({
      "*": { purposes: { Analytics: { onDenied: "drop" }, Surveys: { basis: "consent" } }, categories: { Marketing: ["Advertising", "CrmSync"] } },
      acme: { purposes: { SocialListening: { basis: "consent" } } },
    })
    const star = policyOf(policies, "globex")
    expect(star.purposes["Analytics"]).toEqual({ ...DEFAULT_POLICY.purposes["Analytics"], onDenied: "drop" })
    expect(star.purposes["Surveys"]).toEqual({ basis: "consent", whenUnknown: "not_granted", onDenied: "strip", onUnknown: "keep" })
    expect(star.categories["Marketing"]).toEqual(["Advertising", "CrmSync"])
    const acme = policyOf(policies, "acme")
    expect(acme.purposes["Analytics"]!.onDenied).toBe("drop")
    expect(acme.purposes["SocialListening"]).toMatchObject({ basis: "consent", whenUnknown: "granted" })
  })

  it("names the setting that is wrong", () => {
    expect(() => parseConsentPolicies({ "*": { purposes: { Analytics: { basis: "vibes" } } } })).toThrow(/\*\.purposes\.Analytics\.basis: must be one of consent, legitimate_interest/)
    expect(() => parseConsentPolicies({ acme: { gpc: ["Adverts"] } })).toThrow(/acme\.gpc: names purpose "Adverts", which is not one of/)
    expect(() => parseConsentPolicies({ "*": { channels: { web: "Analytic" } } })).toThrow(/\*\.channels\.web: names purpose "Analytic"/)
    expect(() => parseConsentPolicies({ "*": { purposes: { NewOne: {} } } })).toThrow(/\*\.purposes\.NewOne: needs a basis/)
    expect(() => parseConsentPolicies({ "*": { purpose: {} } })).toThrow(/\*\.purpose: is not a setting/)
  })
})
