import { describe, expect, it } from "vitest"
import { compileBlockRules, DEFAULT_BLOCK_RULES } from "../../identity/guardrails.ts"

const rules = compileBlockRules()

describe("blocked identifier values", () => {
  it("placeholders typed into forms never link", () => {
    expect(rules.reasonFor("email", "test@test.com")).toMatch(/placeholder/)
    expect(rules.reasonFor("email", "noreply@shop.example")).toMatch(/local part/)
    expect(rules.reasonFor("user_id", "null")).toMatch(/placeholder/)
    expect(rules.reasonFor("anonymous_id", "Anonymous")).toMatch(/placeholder/)
    expect(rules.reasonFor("external_id", "000-000")).toMatch(/pattern/)
    expect(rules.reasonFor("phone", "+447777777777")).toMatch(/pattern/)
    expect(rules.reasonFor("phone", "+11111111111")).toMatch(/pattern/)
    expect(rules.reasonFor("phone", "+1123456789")).toMatch(/pattern/)
  })

  it("real values pass", () => {
    expect(rules.reasonFor("email", "owen.muller@mail.example")).toBeUndefined()
    expect(rules.reasonFor("phone", "+447700900927")).toBeUndefined()
    expect(rules.reasonFor("user_id", "usr_dqhdepjtuk")).toBeUndefined()
    expect(rules.reasonFor("anonymous_id", "0f6b8f6b-f807-4c2f-8ba5-4a000d40359f")).toBeUndefined()
  })

  it("a tenant's own additions are blocked too", () => {
    const own = compileBlockRules({ ...DEFAULT_BLOCK_RULES, values: { ...DEFAULT_BLOCK_RULES.values, phone: ["+442079460000"] } })
    expect(own.reasonFor("phone", "+442079460000")).toMatch(/block list/)
    expect(rules.reasonFor("phone", "+442079460000")).toBeUndefined()
  })
})
