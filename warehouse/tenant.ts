// What a tenant's name may be. The warehouse keeps every row under a tenant and scopes analyst SQL to one, so the
// rule lives here; the edge (write keys, tokens, the API's path, query and bodies, the CLI's --tenant) checks names
// against the same rule, so data lands only under names that can be read back.
// "." and ".." are refused: a name is a segment of object keys (exports/<tenant>/, dsr/bundles/<tenant>/), where
// the store refuses them, so such a tenant's exports and access requests could only fail.
export const TENANT_NAME = /^(?!\.\.?$)[A-Za-z0-9_.-]{1,64}$/
export const TENANT_NAME_RULE = "1-64 letters, digits, '.', '_' or '-' (not '.' or '..')"
