// A refused identifier is kept for display (identity_observations.refused.raw) without its control characters, as
// other stored text is (ingest/utf8.ts), and says so in its reason. Found after 7688083: a connector's e-mail address
// holding a NUL was stored with it. A value shown without them is not what was sent, so `cdp identity rebuild` never
// reads it again as if it were (it would link 'ann@x.example' for a message that sent 'ann<NUL>@x.example'); a row
// stored before with them is cleaned by a rebuild that reads the values again.
import { describe, expect, it } from "vitest"
import { identityConfigOf } from "../../identity/index.ts"
import { extractSightings } from "../../identity/extract.ts"
import { readAgain } from "../../identity/rebuild.ts"
import { eventOn } from "../support/events.ts"

const CONTROLS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/
const extract = identityConfigOf({}, []).extract

describe("a refused identifier's raw value", () => {
  it("is stored without its NUL, C0, DEL and C1 controls, its reason saying so; a clean refused one is kept as sent", () => {
    const event = eventOn("m1", 1, {
      source: "chat", channel: "chat", userId: "u\u00071", anonymousId: "a\u0000b",
      traits: { email: "ann\u0085@x.example", phone: "not a phone" },
      identifiers: [{ kind: "twitter_handle", value: "@ann\u007f\u001b[2J" }],
    })
    const { refused, observation } = extractSightings(event, extract)
    expect(observation.sightings).toEqual([])
    expect(refused.map((r) => [r.kind, r.raw])).toEqual([
      ["user_id", "u1"], ["anonymous_id", "ab"], ["email", "ann\n@x.example"], ["phone", "not a phone"], ["twitter_handle", "@ann[2J"],
    ])
    for (const r of refused) expect(r.raw, r.kind).not.toMatch(CONTROLS)
    expect(refused.filter((r) => r.reason.includes("shown without its control characters")).map((r) => r.kind))
      .toEqual(["user_id", "anonymous_id", "email", "twitter_handle"])
  })

  it("shown without them, is never read again as the value sent; stored with them before, a re-read stores it without", () => {
    const stored = {
      tenant: "acme", messageId: "m", timeMs: 0, timestamp: "2024-10-01T00:00:00.000Z",
      sightings: [{ kind: "user_id", value: "u1", raw: "u1", trust: "verified" }],
      refused: [] as Array<{ kind: string; raw: string; reason: string }>,
    }
    const [cleaned] = extractSightings(eventOn("m", 1, { traits: { email: "ann\u0000@x.example" } }), extract).refused
    expect(cleaned!.raw).toBe("ann@x.example")
    const again = readAgain({ ...stored, refused: [{ kind: cleaned!.kind, raw: cleaned!.raw, reason: cleaned!.reason }] }, extract)
    expect(again.observation.sightings).toEqual([{ kind: "user_id", value: "u1", trust: "verified" }])
    expect(again.row).toBeUndefined()

    const legacy = readAgain({ ...stored, refused: [{ kind: "email", raw: "ann\u0000@x.example", reason: "refused: the part before @ holds characters an address cannot have" }] }, extract)
    expect(legacy.observation.sightings).toEqual([{ kind: "user_id", value: "u1", trust: "verified" }])
    expect(legacy.row?.refused).toEqual([{ kind: "email", raw: "ann@x.example", reason: expect.stringContaining("shown without its control characters") }])
    expect(readAgain({ ...stored, refused: [...legacy.row!.refused] }, extract).row).toBeUndefined()
  })
})
