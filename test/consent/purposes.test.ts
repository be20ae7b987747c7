import { describe, expect, it } from "vitest"
import { DEFAULT_POLICIES, DEFAULT_POLICY, governingPurpose, parseConsentPolicies, policyOf } from "../../consent/index.ts"

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

  it("governs a message by its channel and type: identify and group on the web by CrmSync, the rest of the web by Analytics", () => {
    expect(governingPurpose(DEFAULT_POLICY, "web", "identify")).toBe("CrmSync")
    expect(governingPurpose(DEFAULT_POLICY, "web", "group")).toBe("CrmSync")
    expect(governingPurpose(DEFAULT_POLICY, "web", "page")).toBe("Analytics")
    expect(governingPurpose(DEFAULT_POLICY, "social", "track")).toBe("SocialListening")
    expect(governingPurpose(DEFAULT_POLICY, "email", "identify")).toBeUndefined()
    const acme = policyOf(parseConsentPolicies({ acme: { messages: { "*/identify": "Personalization", "web/track": "Advertising" } } }), "acme")
    // A tenant's map replaces the default one (so a default rule can be dropped); the channel's own rule for the type
    // comes first, then the rule for every channel, then the channel's purpose.
    expect(governingPurpose(acme, "web", "identify")).toBe("Personalization")
    expect(governingPurpose(acme, "email", "identify")).toBe("Personalization")
    expect(governingPurpose(acme, "web", "track")).toBe("Advertising")
    expect(governingPurpose(acme, "web", "page")).toBe("Analytics")
  })

  it("names the setting that is wrong", () => {
    expect(() => parseConsentPolicies({ "*": { messages: { "web/identfy": "CrmSync" } } })).toThrow(/\*\.messages\.web\/identfy: is not CHANNEL\/TYPE/)
    expect(() => parseConsentPolicies({ "*": { messages: { "web/identify": "Crm" } } })).toThrow(/\*\.messages\.web\/identify: names purpose "Crm"/)
    expect(() => parseConsentPolicies({ "*": { purposes: { Analytics: { basis: "vibes" } } } })).toThrow(/\*\.purposes\.Analytics\.basis: must be one of consent, legitimate_interest/)
    expect(() => parseConsentPolicies({ acme: { gpc: ["Adverts"] } })).toThrow(/acme\.gpc: names purpose "Adverts", which is not one of/)
    expect(() => parseConsentPolicies({ "*": { channels: { web: "Analytic" } } })).toThrow(/\*\.channels\.web: names purpose "Analytic"/)
    expect(() => parseConsentPolicies({ "*": { purposes: { NewOne: {} } } })).toThrow(/\*\.purposes\.NewOne: needs a basis/)
    expect(() => parseConsentPolicies({ "*": { purpose: {} } })).toThrow(/\*\.purpose: is not a setting/)
  })

  it("a name that is a property of every JS object (constructor, __proto__, toString) is no tenant, purpose, category or signal", () => {
    const hostile = ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"]
    const policies = parseConsentPolicies({ "*": { categories: { Marketing: ["Advertising"] } }, acme: {} })
    for (const name of hostile) {
      expect(policyOf(policies, name)).toBe(policies["*"])
      expect(policyOf(DEFAULT_POLICIES, name)).toBe(DEFAULT_POLICY)
      for (const policy of [DEFAULT_POLICY, policyOf(policies, "acme"), policyOf(policies, "globex")]) {
        expect(policy.purposes[name]).toBeUndefined()
        expect(policy.categories[name]).toBeUndefined()
        expect(policy.channels[name]).toBeUndefined()
        expect(policy.sendgrid[name]).toBeUndefined()
        expect(governingPurpose(policy, name, "track")).toBeUndefined()
      }
    }
  })
})
