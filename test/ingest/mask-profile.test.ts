// Masking the profile routes' answers for a reader without profiles:identifiers (ingest/mask.ts), on its own: every
// string of a timeline item, identifiers of every kind, and the person's phones found by the answer's lookup (all
// their identifiers, not the page the answer shows), asked once per answer and only about the runs it holds.
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { maskProfileAnswer, maskValues, withTheirPhones } from "../../ingest/mask.ts"

const run = <A>(effect: Effect.Effect<A>) => Effect.runPromise(effect)

/** A lookup that knows `phones` (digits without leading zeros) and records what it was asked. */
const lookupOf = (phones: ReadonlyArray<string>, asked: Array<ReadonlyArray<string>>) => (runs: ReadonlyArray<string>) =>
  Effect.sync(() => {
    asked.push([...runs])
    return new Set(runs.filter((r) => phones.some((p) => p.endsWith(r) || r.endsWith(p))))
  })

const event = (messageId: string, fields: Record<string, string> = {}) => ({
  messageId, timestamp: "2024-10-01T10:00:00.000Z", channel: "web", source: "segment", type: "track", event: "Viewed", ...fields,
})

describe("maskProfileAnswer", () => {
  it("masks every string of a timeline item: event names, message ids, sources; the person's phone by the lookup", async () => {
    const asked: Array<ReadonlyArray<string>> = []
    const page = withTheirPhones({
      tenant: "acme", profileId: "prof_1", nextCursor: null,
      events: [
        event("m1", { event: "Signed up a@b.example" }),
        event("id-a@b.example"),
        event("m3", { event: "Called 020 7946 0958", source: "calls <a@b.example>" }),
        event("m4", { event: "Order 12345678 shipped" }),
        event("m5", { event: "Rang +1 415 555 0100" }),
      ],
    }, lookupOf(["442079460958"], asked))
    const masked = await run(maskProfileAnswer("events", page, "Personalization")) as { events: Array<Record<string, string>> }
    expect(masked.events.map((e) => [e.messageId, e.event, e.source])).toEqual([
      ["m1", "Signed up [masked]", "segment"],
      ["[masked]", "Viewed", "segment"],
      ["m3", "Called [masked]", "calls <[masked]>"],
      ["m4", "Order 12345678 shipped", "segment"],
      ["m5", "Rang [masked]", "segment"],
    ])
    // Times are not searched; one question about the two runs that could be a phone of theirs.
    expect(masked.events[0]!.timestamp).toBe("2024-10-01T10:00:00.000Z")
    expect(asked).toEqual([["2079460958", "12345678"]])
  })

  it("masks the person's phone in traits when only the lookup knows it (the identifier is on a later page)", async () => {
    const asked: Array<ReadonlyArray<string>> = []
    const body = withTheirPhones({
      tenant: "acme", profileId: "prof_1",
      identifiers: [{ kind: "anonymous_id", value: "a-001", raw: "a-001" }],
      traits: {
        fax: { value: "020 7946 0958", at: "2024-10-01T10:00:00.000Z" }, digits: { value: 2079460958 }, order: { value: "order 12345678" }, signedUp: { value: "2024-10-01" },
        // A sender's own keys named like times are searched as any other.
        meta: { value: { at: "ring 020 7946 0958", timestamp: 2079460958 } },
      },
      merges: [], recentEvents: [], timeline: { events: [], nextCursor: null },
      consent: { purposes: [{ purpose: "Personalization", allowed: false }] },
    }, lookupOf(["442079460958"], asked))
    const masked = await run(maskProfileAnswer("profile", body, "Personalization")) as { traits: Record<string, { value: unknown }> }
    expect(Object.fromEntries(Object.entries(masked.traits).map(([k, t]) => [k, t.value]))).toEqual({
      fax: "[masked]", digits: "[masked]", order: "order 12345678", signedUp: "2024-10-01", meta: { at: "ring [masked]", timestamp: "[masked]" },
    })
    expect((masked.traits["fax"] as Record<string, unknown>)["at"]).toBe("2024-10-01T10:00:00.000Z")
    // One question, about the runs that could be theirs (never the engine's times).
    expect(asked).toEqual([["2079460958", "12345678", "20241001"]])
  })

  it("masks an address or phone held as an identifier of any kind, and every identifier of a masked kind whole", async () => {
    const body = withTheirPhones({
      tenant: "acme", profileId: "prof_1", nextCursor: null, identifierCount: 4,
      identifiers: [
        { kind: "anonymous_id", value: "+44 20 7946 0958", raw: "+44 20 7946 0958" },
        { kind: "email", value: "a@b.example", raw: "A@B.example" },
        { kind: "phone", value: "+442079460958", raw: "020 7946 0958" },
        { kind: "user_id", value: "a@b.example", raw: "a@b.example" },
        { kind: "user_id", value: "u-17", raw: "u-17" },
      ],
    }, lookupOf([], []))
    const masked = await run(maskProfileAnswer("identifiers", body, "Personalization")) as { identifiers: Array<Record<string, string>> }
    expect(masked.identifiers.map((i) => [i.kind, i.value, i.raw])).toEqual([
      ["anonymous_id", "[masked]", "[masked]"], ["email", "[masked]", "[masked]"], ["phone", "[masked]", "[masked]"],
      ["user_id", "[masked]", "[masked]"], ["user_id", "u-17", "u-17"],
    ])
  })

  it("without a lookup (or when it cannot answer) counts every run of seven digits or more as the person's", async () => {
    const masked = await run(maskProfileAnswer("events", { events: [event("m1", { event: "Order 12345678 shipped on 2024-10-01" })] }, "Personalization")) as {
      events: Array<Record<string, string>>
    }
    expect(masked.events[0]!.event).toBe("Order [masked] shipped on [masked]")
  })

  it("masks for a purpose the person's consent does not list (the default one at a tenant without it), and leaves a consented profile as it is", async () => {
    const body = {
      identifiers: [{ kind: "email", value: "a@b.example", raw: "a@b.example" }], traits: {}, merges: [],
      consent: { purposes: [{ purpose: "Personalization", allowed: true }, { purpose: "EmailMarketing", allowed: false }] },
    }
    const unlisted = await run(maskProfileAnswer("profile", body, "Gossip")) as Record<string, any>
    expect(unlisted["identifiers"][0]).toMatchObject({ value: "[masked]", raw: "[masked]" })
    expect(unlisted["masked"]).toEqual({ purpose: "Gossip", kinds: ["email", "phone"] })
    const allowed = await run(maskProfileAnswer("profile", body, "Personalization")) as Record<string, unknown>
    expect(allowed["identifiers"]).toEqual(body.identifiers)
    expect(allowed["masked"]).toEqual({ purpose: "Personalization", kinds: [] })
  })
})

describe("values of no one person (a computed trait's preview)", () => {
  it("mask every address and phone-like number, and keys named for them; leave other text and small numbers", () => {
    expect(maskValues(["call 020 7946 0111 or ann@x.example", "+44 20 7946 0958", 7700900123, 42.5, { email: "a", city: "Leeds" }, "order 12", null]))
      .toEqual(["call [masked] or [masked]", "[masked]", "[masked]", 42.5, { email: "[masked]", city: "Leeds" }, "order 12", null])
  })
})
