// JSON text of any value, however deeply nested. JSON.stringify recurses and overflows the stack a few thousand
// levels down; a message nested deeper still has to be kept whole (as a dead letter), so this falls back to a loop.
type Frame =
  | { readonly kind: "array"; readonly items: ReadonlyArray<unknown>; i: number }
  | { readonly kind: "object"; readonly entries: ReadonlyArray<readonly [string, unknown]>; i: number }

const skipped = (v: unknown) => v === undefined || typeof v === "function" || typeof v === "symbol"

export const deepJsonText = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? "null"
  } catch (e) {
    if (!(e instanceof RangeError)) throw e
  }
  const out: Array<string> = []
  const stack: Array<Frame> = []
  const open = (v: unknown) => {
    if (v === null || typeof v !== "object" || typeof (v as { toJSON?: unknown }).toJSON === "function") {
      out.push(JSON.stringify(v) ?? "null")
    } else if (Array.isArray(v)) {
      out.push("[")
      stack.push({ kind: "array", items: v, i: 0 })
    } else {
      out.push("{")
      stack.push({ kind: "object", entries: Object.entries(v).filter(([, x]) => !skipped(x)), i: 0 })
    }
  }
  open(value)
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!
    const length = top.kind === "array" ? top.items.length : top.entries.length
    if (top.i >= length) {
      out.push(top.kind === "array" ? "]" : "}")
      stack.pop()
      continue
    }
    if (top.i > 0) out.push(",")
    if (top.kind === "array") {
      const item = top.items[top.i++]
      open(skipped(item) ? null : item)
    } else {
      const [k, v] = top.entries[top.i++]!
      out.push(`${JSON.stringify(k)}:`)
      open(v)
    }
  }
  return out.join("")
}
