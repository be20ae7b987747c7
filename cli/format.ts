// Output of query results: JSON lines (for scripts) or a table (for people).
import Table from "cli-table3"

export type OutputFormat = "json" | "table"

export const formatRows = (rows: ReadonlyArray<Record<string, unknown>>, format: OutputFormat): string => {
  if (format === "json") return rows.map((r) => JSON.stringify(r)).join("\n")
  if (rows.length === 0) return "(no rows)"
  const columns = Object.keys(rows[0]!)
  const table = new Table({
    head: columns,
    style: { head: [], border: [], compact: true },
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  })
  for (const row of rows) {
    table.push(columns.map((c) => {
      const v = row[c]
      const text = typeof v === "string" ? v : JSON.stringify(v)
      return text.length > 80 ? `${text.slice(0, 77)}...` : text
    }))
  }
  return table.toString()
}
