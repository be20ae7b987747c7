// What a tenant's name may be. The warehouse keeps every row under a tenant and scopes analyst SQL to one, so the
// rule lives here; the edge (write keys, tokens, the API's path, query and bodies, the CLI's --tenant) checks names
// against the same rule, so data lands only under names that can be read back.
// "." and ".." are refused: a name is a segment of object keys (exports/<tenant>/, dsr/bundles/<tenant>/), where
// the store refuses them, so such a tenant's exports and access requests could only fail.
export const TENANT_NAME = /^(?!\.\.?$)[A-Za-z0-9_.-]{1,64}$/
export const TENANT_NAME_RULE = "1-64 letters, digits, '.', '_' or '-' (not '.' or '..')"

// Names are compared as written, so a new tenant's name must be written one way: lowercase. Otherwise an unbound
// token naming "ACME" (or "Acme") made a tenant beside "acme" without a word, forking a customer's data by a typo.
// Names with capitals were accepted before; one a write key of this process names is still taken exactly as written
// (its data keeps being read and written there), and no other spelling of it is taken.
export const TENANT_CANONICAL = /^(?!\.\.?$)[a-z0-9_.-]{1,64}$/
export const TENANT_CANONICAL_RULE = "1-64 lowercase letters, digits, '.', '_' or '-' (not '.' or '..')"

/**
 * The spellings kept from before the rule among `tenants` (a process's write keys' tenants): those with capitals, and
 * any other a write key names that differs from one of them only in case (both tenants exist then, each as written).
 */
export const knownSpellings = (tenants: Iterable<string>): ReadonlySet<string> => {
  const names = [...new Set(tenants)].filter((t) => TENANT_NAME.test(t))
  const capitalised = new Set(names.filter((t) => !TENANT_CANONICAL.test(t)).map((t) => t.toLowerCase()))
  return new Set(names.filter((t) => capitalised.has(t.toLowerCase())))
}

const NO_SPELLINGS: ReadonlySet<string> = new Set()
const quoted = (name: string) => JSON.stringify(name.length <= 80 ? name : `${name.slice(0, 80)}…`)

/**
 * Why `name` cannot name a tenant here, in a sender's words (`"ACME" is not ...; did you mean "acme"?`), or undefined.
 * `known`: the spellings with capitals this process takes (knownSpellings); a name differing from one only in case is
 * refused naming it.
 */
export const tenantNameProblem = (name: string, known: ReadonlySet<string> = NO_SPELLINGS): string | undefined => {
  if (TENANT_CANONICAL.test(name) && known.size === 0) return undefined
  if (known.has(name)) return undefined
  const spelling = (folded: string) => [...known].find((k) => k.toLowerCase() === folded)
  const kept = spelling(name.toLowerCase())
  if (kept !== undefined) return `${quoted(name)} differs only in case from tenant ${quoted(kept)}: write it ${quoted(kept)}`
  if (TENANT_CANONICAL.test(name)) return undefined
  // What was likely meant: the name without blanks around it, in Unicode's compatibility form (fullwidth letters), folded.
  const folded = name.normalize("NFKC").trim().toLowerCase()
  const meant = spelling(folded) ?? (TENANT_CANONICAL.test(folded) ? folded : undefined)
  return `${quoted(name)} is not a tenant's name (${TENANT_CANONICAL_RULE})${meant === undefined ? "" : `; did you mean ${quoted(meant)}?`}`
}
