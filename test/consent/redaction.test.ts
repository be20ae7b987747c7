// Erasure finds a subject's identifier inside other people's data only as a whole value or token: a digits-only user
// id must not cut pieces out of an unrelated order number or amount, while real mentions still go.
import { Effect, Logger } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Keys } from "../../consent/keys.ts"
import { eraseSubject } from "../../consent/registry.ts"
import { resolveSubject } from "../../consent/subject.ts"
import { exportArchived } from "../../ingest/archive.ts"
import { mentionsNeedle, redactRow } from "../../warehouse/erasure.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { freshDir, post, removeDir, withCollector } from "../support/pipeline.ts"

let dir: string
beforeAll(() => {
  dir = freshDir()
})
afterAll(() => removeDir(dir))

describe("whole-token matching of a subject's identifiers", () => {
  const holds = mentionsNeedle(["204817", "ann@x.example"])

  it("finds the identifier as a JSON value, a word of free text or at a sentence's end, in any case", () => {
    expect(holds('{"userId":"204817"}')).toBe(true)
    expect(holds('{"phone":204817}')).toBe(true)
    expect(holds("please erase 204817.")).toBe(true)
    expect(holds("write to ANN@X.EXAMPLE, thanks")).toBe(true)
    expect(holds("mailto:ann@x.example")).toBe(true)
  })

  it("does not find it inside a longer number, address or value", () => {
    expect(holds('{"order":"92048175"}')).toBe(false)
    expect(holds('{"total":204817.5}')).toBe(false)
    expect(holds("ref 204817x and 1-204817")).toBe(false)
    expect(holds("joann@x.example")).toBe(false)
    expect(holds("ann@x.example-old")).toBe(false)
  })

  it("redaction cuts only the whole tokens out of a row", () => {
    const row = redactRow({
      properties: '{"order":"92048175","total":204817.5,"note":"ask 204817 or ann@x.example"}', ids: ["204817", "920481750"],
    }, ["204817", "ann@x.example"])
    expect(row).toEqual({ properties: '{"order":"92048175","total":204817.5,"note":"ask 0 or [erased]"}', ids: ["0", "920481750"] })
  })
})

describe("erasing a person whose user id is only digits", () => {
  const keys = Keys.fixed(new Uint8Array(32).fill(5))
  it("leaves other people's numbers that contain it whole, and removes its real occurrences everywhere", async () => {
    const result = await withCollector(dir, (url) => Effect.gen(function* () {
      const landed = yield* post(`${url}/v1/batch`, {
        batch: [
          { type: "identify", userId: "204817", messageId: "m-s-1", traits: { email: "digits.person@mail.example" }, timestamp: "2024-10-02T10:00:00Z" },
          {
            type: "track", userId: "u-other", messageId: "m-o-1", event: "Order Completed", timestamp: "2024-10-02T11:00:00Z",
            properties: { order_number: "92048175", total: 204817.5, note: "ask 204817 about it" },
          },
        ],
      })
      expect(landed.status).toBe(200)
      // Refused at the edge (an unknown type): dead letters, with no subject column.
      yield* post(`${url}/v1/batch`, {
        batch: [
          { type: "bogus", userId: "u-other-2", messageId: "m-o-dl", properties: { ref: "92048175" } },
          { type: "bogus", userId: "204817", messageId: "m-s-dl" },
        ],
      })
      const warehouse = yield* Warehouse
      expect((yield* warehouse.query("SELECT payload FROM dead_letters")).length).toBe(2)
      const subject = yield* resolveSubject("acme", "user_id:204817")
      const done = yield* eraseSubject(subject)
      return {
        done,
        events: yield* warehouse.query<{ message_id: string; properties: string }>("SELECT message_id, properties FROM event_rows ORDER BY message_id"),
        dead: yield* warehouse.query<{ payload: string }>("SELECT payload FROM dead_letters ORDER BY payload"),
        archived: (yield* exportArchived("acme", () => true)).map((r) => r.body),
      }
    }).pipe(Effect.provide(keys), Effect.provide(Logger.layer([]))))
    expect(result.done.find((d) => d.where === "verification")?.count).toBe(0)
    expect(result.events.map((e) => e.message_id)).toEqual(["m-o-1"])
    expect(JSON.parse(result.events[0]!.properties)).toEqual({ order_number: "92048175", total: 204817.5, note: "ask 0 about it" })
    expect(result.dead).toHaveLength(1)
    expect(result.dead[0]!.payload).toContain('"ref":"92048175"')
    expect(result.dead[0]!.payload).toContain("u-other-2")
    const archived = result.archived.join("\n")
    expect(archived).toContain("92048175")
    expect(archived).toContain("204817.5")
    expect(archived).not.toContain("digits.person")
    expect(archived).not.toMatch(/(?<![\d.])204817(?![\d.])/)
  }, 120_000)
})
