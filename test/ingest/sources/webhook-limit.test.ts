// A webhook post carrying more items than a post may is refused; each source stops reading it once the limit is
// passed, so an oversized post costs what the limit's worth of items costs, not what the whole post would.
import { describe, expect, it } from "vitest"
import { WEBHOOK_SOURCES } from "../../../ingest/sources/index.ts"
import { context } from "./helpers.ts"

const LIMIT = 100
const MANY = 5_000
const HEADER = "call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes"
const callRow = (i: number) => `CA${i},2024-09-16T09:28:50Z,60,inbound,201-555-0150,Riley,Billing,resolved,Fine.`
const chat = (i: number) => JSON.stringify({ conversation_id: `c${i}`, messages: [] })
const social = (i: number) => JSON.stringify({ id: `r${i}`, network: "reddit", author_handle: "h", text: "ok", created_at: "2024-10-01T10:00:00Z" })
const sendgrid = (i: number) => JSON.stringify({ email: "a@x.example", event: "delivered", sg_event_id: `s${i}`, sg_message_id: "m", timestamp: 1727776800 })
const lines = (make: (i: number) => string) => Array.from({ length: MANY }, (_, i) => make(i))

const bodies: ReadonlyArray<readonly [source: string, shape: string, body: string]> = [
  ["calls", "a CSV export", `${[HEADER, ...lines(callRow)].join("\r\n")}\r\n`],
  ["chat", "a JSON array", `[${lines(chat).join(",")}]`],
  ["chat", "NDJSON", lines(chat).join("\n")],
  ["social", "NDJSON", lines(social).join("\n")],
  ["sendgrid", "a JSON array", `[${lines(sendgrid).join(",")}]`],
  ["sendgrid", "NDJSON", lines(sendgrid).join("\n")],
]

describe("a webhook body of more items than a post may carry", () => {
  it.each(bodies)("%s (%s) is read only until the limit is passed", async (name, _shape, body) => {
    const items = await WEBHOOK_SOURCES.get(name)!.parse(body, context({ maxItems: LIMIT }))
    // More than the limit tells the collector to refuse; no more than one past it was read.
    expect(items.length).toBe(LIMIT + 1)
  })

  it.each(bodies)("%s (%s) is read whole when no limit is set (files, replay)", async (name, _shape, body) => {
    const items = await WEBHOOK_SOURCES.get(name)!.parse(body, context())
    expect(items.length).toBe(MANY)
  })
})
