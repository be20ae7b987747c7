// How the listening reports (text, HTML, relationship types) write numbers and escape what the public wrote.

// One number formatter, made on first use: making it loads ICU's locale data (tens of milliseconds), which a command
// that prints no report should not pay at start-up.
let formatter: Intl.NumberFormat | undefined

/** A count as the reports print it: 12,345. */
export const num = (n: number): string => (formatter ??= new Intl.NumberFormat("en-US")).format(n)
/** A share as a percentage with one decimal: 0.1234 is 12.3%. */
export const pct = (share: number): string => `${(share * 100).toFixed(1)}%`
/** One decimal. */
export const f1 = (x: number): string => x.toFixed(1)

const ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }
const ESCAPED = /[&<>"']/g
/** Text and attribute values of HTML: handles, names and phrases come from the public and may hold markup. */
export const esc = (value: string | number): string => String(value).replace(ESCAPED, (c) => ESCAPES[c]!)
