// A chat message or conversation needs its visitor's id, as a Segment message needs a non-blank userId or
// anonymousId. Found probing cdp serve: a live message with "visitor_id": "" (or "  ") was answered 200 and landed
// tied to no one: its text could not be found by a profile read, nor reached by the visitor's erasure.
import { describe, expect, it } from "vitest"
import { parseChatWebhook } from "../../../ingest/sources/chat.ts"
import { context, split } from "./helpers.ts"

const at = "2024-09-02T10:00:00Z"
const live = (visitor: string) => JSON.stringify({ conversation_id: "c1", message_id: `m-${visitor.length}`, visitor_id: visitor, from: "visitor", at, text: "my order is late" })
const transcript = (visitor: string) => JSON.stringify({ conversation_id: "c2", visitor_id: visitor, started_at: at, messages: [{ from: "visitor", at, text: "hello" }] })

describe("chat: a blank visitor_id", () => {
  it("refuses a live message or a transcript whose visitor_id is blank, naming /visitor_id", () => {
    for (const body of [live(""), live("   "), transcript(""), `${transcript("\t")}\n${live("v1")}`]) {
      const { events, deadLetters } = split(parseChatWebhook(body, context()))
      expect(deadLetters.map((d) => [d.rejection.rule, d.rejection.field])).toEqual([["bad_id", "/visitor_id"]])
      expect(deadLetters[0]!.rejection.message).toContain("visitor_id is blank")
      expect(events.map((e) => e.anonymousId)).toEqual(body.includes('"v1"') ? ["v1"] : [])
    }
  })
})
