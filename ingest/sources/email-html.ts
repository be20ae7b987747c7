// The text of a mail whose HTML is too large to read on the event loop: mailparser's html-to-text wraps lines at 80
// columns in time that grows faster than the HTML (a 4.9 MB table posted to /v1/webhooks/email held every tenant's
// requests 39 s), so such a mail is parsed again in a worker thread, one at a time, within a time limit.
import { Worker } from "node:worker_threads"

/** HTML parts up to this many characters are read as text on the event loop (at most ~0.2 s, whatever their shape). */
export const INLINE_HTML_CHARS = 100_000

/** How long a worker may take to read one mail's HTML before the mail is refused. */
export const HTML_TEXT_TIMEOUT_MS = 20_000

const WORKER_SCRIPT = new URL("./email-html-worker.ts", import.meta.url)

export type HtmlText = { readonly text: string } | { readonly refused: string }

/** One worker at a time: a flood of such mails waits its turn instead of starting a thread (and a heap) each. */
let queue: Promise<unknown> = Promise.resolve()

const readInWorker = (raw: Buffer, options: Record<string, unknown>, timeoutMs: number): Promise<HtmlText> =>
  new Promise((resolve) => {
    const worker = new Worker(WORKER_SCRIPT, { workerData: { raw, options } })
    let done = false
    const finish = (result: HtmlText) => {
      if (done) return
      done = true
      clearTimeout(timer)
      void worker.terminate()
      resolve(result)
    }
    const timer = setTimeout(() => finish({
      refused: `its HTML could not be read as text within ${timeoutMs / 1000} s; send the mail with a text/plain part`,
    }), timeoutMs)
    // An HTML part mailparser cannot convert (nested too deep) leaves the text empty, as on the event loop.
    worker.on("message", (reply: { text: string; parseError?: string }) =>
      finish(reply.parseError !== undefined ? { refused: `cannot parse the message (${reply.parseError})` } : { text: reply.text }))
    worker.on("error", (error: Error) => finish({ refused: `its HTML could not be read as text (${error.message})` }))
    worker.on("exit", () => finish({ refused: "its HTML could not be read as text (the reader stopped)" }))
  })

/**
 * The text of `raw` (a mail whose HTML mailparser did not read, being over INLINE_HTML_CHARS), parsed with `options`
 * and no length limit in a worker thread; or why not.
 */
export const htmlTextOffLoop = (raw: Buffer, options: Record<string, unknown>, timeoutMs = HTML_TEXT_TIMEOUT_MS): Promise<HtmlText> => {
  const turn = queue.then(() => readInWorker(raw, { ...options, maxHtmlLengthToParse: undefined }, timeoutMs))
  queue = turn
  return turn
}
