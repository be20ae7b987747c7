// Analysts' ad-hoc SQL may only read. The embedded engine keeps session settings between queries, so instead of
// switching the session to readonly this checks the text: one statement, and one of the reading kinds.

const READING_STATEMENT = /^(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|EXISTS)\b/i

/** Removes comments and the contents of quoted literals and identifiers, keeping their delimiters. */
const skeleton = (sql: string): string => {
  let out = ""
  let i = 0
  while (i < sql.length) {
    const c = sql[i]!
    if (c === "-" && sql[i + 1] === "-") {
      while (i < sql.length && sql[i] !== "\n") i++
    } else if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2)
      i = end === -1 ? sql.length : end + 2
      out += " "
    } else if (c === "'" || c === '"' || c === "`") {
      let j = i + 1
      while (j < sql.length && sql[j] !== c) j += sql[j] === "\\" ? 2 : 1
      out += `${c}${c}`
      i = j + 1
    } else {
      out += c
      i++
    }
  }
  return out
}

/** Returns why `sql` is not an acceptable read-only query, or null when it is. */
export const readOnlyViolation = (sql: string): string | null => {
  const bare = skeleton(sql).trim().replace(/;\s*$/, "")
  if (bare === "") return "the query is empty"
  if (bare.includes(";")) return "only one statement at a time is allowed"
  if (!READING_STATEMENT.test(bare)) {
    return "only reading statements are allowed (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS)"
  }
  if (/\bINTO\s+OUTFILE\b/i.test(bare)) return "INTO OUTFILE is not allowed"
  return null
}
