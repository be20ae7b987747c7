// The HTTP shared by the destinations that are APIs: one request with the caller's abort signal, its answer read as
// JSON when it is JSON, and Retry-After read in either of its forms (seconds, HTTP date).
export interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly json: unknown
  readonly text: string
}

export const request = async (url: string, init: { method: string; headers: Record<string, string>; body?: string }, signal: AbortSignal): Promise<Answer> => {
  const res = await fetch(url, { ...init, signal, redirect: "error" })
  const text = await res.text()
  let json: unknown
  try {
    json = text === "" ? undefined : JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, json, text }
}

/** Milliseconds the server asked to wait, or undefined. */
export const retryAfterMs = (headers: Headers, now = Date.now()): number | undefined => {
  const v = headers.get("retry-after")
  if (v === null || v.trim() === "") return undefined
  if (/^\d+(\.\d+)?$/.test(v.trim())) return Math.round(Number(v.trim()) * 1000)
  const at = Date.parse(v)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/** A short description of an answer for the delivery log: status and the server's own words, cut. */
export const answerDetail = (a: Answer, words?: string): string =>
  `HTTP ${a.status}${words === undefined || words === "" ? "" : `: ${words}`}`.slice(0, 300)

export const isRetryableStatus = (status: number) => status === 408 || status === 429 || status >= 500
