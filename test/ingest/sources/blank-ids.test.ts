// An item id or recipient of spaces alone is refused naming the field, as an empty one is. Found probing cdp serve:
// two SendGrid events with "sg_event_id": "    " (an open, then an unsubscribe of another recipient) were answered 200
// {accepted: 2}, and the unsubscribe never landed: taken for a duplicate of the open. An "email" of spaces, a chat
// conversation_id or message_id and a social post id of spaces were taken too.
import { describe, expect, it } from "vitest"
import { parseChatWebhook } from "../../../ingest/sources/chat.ts"
import { parseSendgridWebhook } from "../../../ingest/sources/sendgrid.ts"
import { parseSocialWebhook } from "../../../ingest/sources/social.ts"
import { context, split } from "./helpers.ts"

const refusals = (items: Parameters<typeof split>[0]) => split(items).deadLetters.map((d) => [d.rejection.rule, d.rejection.field, d.rejection.message.includes("must hold more than spaces")])

describe("sources: ids of spaces", () => {
  it("refuses SendGrid events whose sg_event_id or email is spaces, and lands the good one", () => {
    const events = [
      { email: "one@x.example", event: "open", sg_event_id: "    ", timestamp: 1_725_000_000 },
      { email: "two@x.example", event: "unsubscribe", sg_event_id: "\t", timestamp: 1_725_000_001 },
      { email: "   ", event: "open", sg_event_id: "e3", timestamp: 1_725_000_002 },
      { email: "four@x.example", event: "open", sg_event_id: "e4", timestamp: 1_725_000_003 },
    ]
    const items = parseSendgridWebhook(JSON.stringify(events), context())
    expect(refusals(items)).toEqual([["missing_event_id", "/sg_event_id", true], ["missing_event_id", "/sg_event_id", true], ["missing_email", "/email", true]])
    expect(split(items).events.map((e) => e.messageId)).toEqual(["e4"])
  })

  it("refuses a chat conversation_id or message_id of spaces, and a social post id of spaces", () => {
    const at = "2024-09-02T10:00:00Z"
    const live = (o: object) => JSON.stringify({ conversation_id: "c1", visitor_id: "v1", from: "visitor", at, text: "hi", ...o })
    expect(refusals(parseChatWebhook(live({ conversation_id: "  " }), context()))).toEqual([["missing_conversation_id", "/conversation_id", true]])
    expect(refusals(parseChatWebhook(live({ message_id: " " }), context()))).toEqual([["bad_format", "/message_id", true]])
    const transcript = JSON.stringify({ conversation_id: "\t", visitor_id: "v1", started_at: at, messages: [] })
    expect(refusals(parseChatWebhook(transcript, context()))).toEqual([["missing_conversation_id", "/conversation_id", true]])
    const post = JSON.stringify({ id: "   ", network: "reddit", author_handle: "h", text: "t", created_at: at })
    expect(refusals(parseSocialWebhook(post, context()))).toEqual([["bad_format", "/id", true]])
    // Numbers and ids with spaces inside are ids.
    const fine = JSON.stringify({ id: 42, network: "reddit", author_handle: "h", text: "t", created_at: at })
    expect(split(parseSocialWebhook(fine, context())).events.map((e) => e.messageId)).toEqual(["reddit:42"])
    expect(split(parseChatWebhook(live({ message_id: "m 1" }), context())).events.map((e) => e.messageId)).toEqual(["m 1"])
  })
})
