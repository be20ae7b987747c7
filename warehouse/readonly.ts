// A friendly early error for analysts' SQL that cannot be a read. It is not the enforcement: the engine runs
// analysts' SQL in a read-only context (warehouse/analyst.ts), whatever this check lets through.

const READING_STATEMENT = /^(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|EXISTS)\b/i

/** The end of a ClickHouse comment that starts at `i` ("/*"): they nest, so count the depth. */
const blockCommentEnd = (sql: string, i: number): number => {
  let depth = 0
  while (i < sql.length) {
    if (sql.startsWith("/*", i)) {
      depth++
      i += 2
    } else if (sql.startsWith("*/", i)) {
      depth--
      i += 2
      if (depth === 0) return i
    } else {
      i++
    }
  }
  return sql.length
}

// A heredoc string: $$...$$ or $tag$...$tag$.
const HEREDOC_TAG = /^\$[A-Za-z0-9_]*\$/

/** Removes comments and the contents of quoted literals and identifiers, keeping their delimiters. */
const skeleton = (sql: string): string => {
  let out = ""
  let i = 0
  while (i < sql.length) {
    const c = sql[i]!
    const next = sql[i + 1]
    if ((c === "-" && next === "-") || (c === "#" && (next === " " || next === "!"))) {
      while (i < sql.length && sql[i] !== "\n") i++
    } else if (c === "/" && next === "*") {
      i = blockCommentEnd(sql, i)
      out += " "
    } else if (c === "'" || c === '"' || c === "`") {
      let j = i + 1
      while (j < sql.length && sql[j] !== c) j += sql[j] === "\\" ? 2 : 1
      out += `${c}${c}`
      i = j + 1
    } else if (c === "$" && HEREDOC_TAG.test(sql.slice(i, i + 66))) {
      const tag = HEREDOC_TAG.exec(sql.slice(i, i + 66))![0]
      const end = sql.indexOf(tag, i + tag.length)
      out += "''"
      i = end === -1 ? sql.length : end + tag.length
    } else {
      out += c
      i++
    }
  }
  return out
}

/** The engine parses at most this many bytes of a statement (its max_query_size, 256 KiB). */
export const MAX_QUERY_BYTES = 262_144

/** Returns why `sql` is not an acceptable read-only query, or null when it is. */
export const readOnlyViolation = (sql: string): string | null => {
  const bytes = Buffer.byteLength(sql)
  if (bytes > MAX_QUERY_BYTES) return `the query is ${bytes} bytes; the limit is ${MAX_QUERY_BYTES} bytes (256 KB)`
  // The engine's C strings end at a NUL, so its error would come back cut, and read as an outage: say where it is.
  const control = /[\u0000-\u0008\u000e-\u001f\u007f]/.exec(sql)
  if (control !== null) {
    const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")
    return `the query holds the control character U+${code} at character ${control.index + 1}: remove it (write it in a string as '\\x${code.slice(2)}')`
  }
  const bare = skeleton(sql).trim().replace(/;\s*$/, "")
  if (bare === "") return "the query is empty"
  if (bare.includes(";")) return "only one statement at a time is allowed"
  if (!READING_STATEMENT.test(bare)) {
    return "only reading statements are allowed (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS)"
  }
  if (/\bINTO\s+OUTFILE\b/i.test(bare)) return "INTO OUTFILE is not allowed"
  return null
}

/**
 * True when `sql` as the engine formats it (formatQuerySingleLine: keywords in capitals, names as written), outside
 * its literals and comments, has a PREWHERE clause; a column named prewhere is not one.
 */
export const hasPrewhere = (canonical: string): boolean => /\bPREWHERE\b/.test(skeleton(canonical))

/** True when `sql`, outside its literals and comments, says INTO OUTFILE (which the engine would run). */
export const writesOutfile = (sql: string): boolean => /\bINTO\s+OUTFILE\b/i.test(skeleton(sql))
