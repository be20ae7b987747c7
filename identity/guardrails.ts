// Values that must never link people: placeholders typed into forms ("test@test.com", "null", "0000000000") and the
// tenant's own additions. Checked on normalised values; a blocked value is recorded with its reason, never linked.
import { hash } from "node:crypto"
import type { IdentifierKind } from "./normalise.ts"

export interface BlockRules {
  /** Exact normalised values per kind ("*" for every kind). */
  readonly values: Readonly<Partial<Record<IdentifierKind | "*", ReadonlyArray<string>>>>
  /** Regular expressions on the normalised value per kind ("*" for every kind). */
  readonly patterns: Readonly<Partial<Record<IdentifierKind | "*", ReadonlyArray<string>>>>
  /** Local parts of e-mail addresses that no person owns alone (noreply@, test@, ...), on any domain. */
  readonly emailLocalParts: ReadonlyArray<string>
}

export const DEFAULT_BLOCK_RULES: BlockRules = {
  values: {
    "*": ["null", "undefined", "none", "nil", "n/a", "na", "unknown", "anonymous", "guest", "test", "-", "0", "[object object]"],
    email: ["test@test.com", "test@example.com", "example@example.com", "email@example.com", "user@example.com",
      "email@email.com", "a@a.com", "asdf@asdf.com", "no@email.com", "none@none.com"],
  },
  patterns: {
    // Only zeros and dashes: "0", "000-000", "--".
    "*": ["^[0-]*$"],
    // One digit repeated after the country code (+10000000000, +447777777777) or a plain ascending run.
    phone: ["^\\+\\d{1,3}(\\d)\\1{6,}$", "^\\+\\d{0,3}0?123456789\\d?$"],
  },
  emailLocalParts: ["test", "noreply", "no-reply", "donotreply", "do-not-reply", "null", "none", "unknown", "asdf", "example"],
}

export interface CompiledBlockRules {
  /** Why the value may not link, or undefined when it may (by the tenant's own rules, when it has some). */
  readonly reasonFor: (kind: IdentifierKind, normalised: string, tenant?: string) => string | undefined
  /** Equal for rules that block the same values (a snapshot made under the rules in force needs no check of its values). */
  readonly digest: string
}

export const compileBlockRules = (rules: BlockRules = DEFAULT_BLOCK_RULES): CompiledBlockRules => {
  const exact = (kind: IdentifierKind | "*") => new Set((rules.values[kind] ?? []).map((v) => v.toLowerCase()))
  const compiled = (kind: IdentifierKind | "*") => (rules.patterns[kind] ?? []).map((p) => new RegExp(p, "i"))
  const anyExact = exact("*")
  const anyPatterns = compiled("*")
  const exactByKind = new Map<IdentifierKind, Set<string>>()
  const patternsByKind = new Map<IdentifierKind, Array<RegExp>>()
  const localParts = new Set(rules.emailLocalParts.map((l) => l.toLowerCase()))
  return {
    digest: hash("sha256", JSON.stringify([rules.values, rules.patterns, rules.emailLocalParts]), "hex").slice(0, 32),
    reasonFor: (kind, normalised) => {
      const lower = normalised.toLowerCase()
      let kindExact = exactByKind.get(kind)
      if (kindExact === undefined) exactByKind.set(kind, kindExact = exact(kind))
      let kindPatterns = patternsByKind.get(kind)
      if (kindPatterns === undefined) patternsByKind.set(kind, kindPatterns = compiled(kind))
      if (anyExact.has(lower) || kindExact.has(lower)) return `"${normalised}" is a placeholder value on the block list`
      const pattern = [...anyPatterns, ...kindPatterns].find((p) => p.test(normalised))
      if (pattern !== undefined) return `the value matches the blocked pattern /${pattern.source}/`
      if (kind === "email") {
        const local = lower.slice(0, lower.lastIndexOf("@"))
        if (localParts.has(local)) return `"${local}@" addresses belong to no one person (blocked local part)`
      }
      return undefined
    },
  }
}
