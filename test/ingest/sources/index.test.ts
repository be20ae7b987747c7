import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { FILE_SOURCES, WEBHOOK_SOURCES } from "../../../ingest/sources/index.ts"
import { context } from "./helpers.ts"

describe("source registries", () => {
  it("cdp ingest knows every connector by the name users rely on", () => {
    expect([...FILE_SOURCES.keys()]).toEqual(expect.arrayContaining(["segment", "sendgrid", "email", "chat", "calls", "social"]))
    for (const [name, source] of FILE_SOURCES) expect(source.name).toBe(name)
  })

  it("every connector but segment (which has its Tracking API) has a webhook parser", () => {
    expect([...WEBHOOK_SOURCES.keys()]).toEqual(expect.arrayContaining(["sendgrid", "email", "chat", "calls", "social"]))
    expect(WEBHOOK_SOURCES.has("segment")).toBe(false)
    for (const [name, source] of WEBHOOK_SOURCES) expect(source.name).toBe(name)
  })

  const bodies = fc.oneof(
    fc.string({ unit: "binary" }),
    fc.uint8Array({ maxLength: 400 }).map((bytes) => Buffer.from(bytes).toString("latin1")),
    fc.json(),
    fc.array(fc.json(), { maxLength: 5 }).map((values) => values.join("\n")),
    fc.array(fc.json(), { maxLength: 5 }).map((values) => `[${values.join(",")}]`),
  )

  for (const [name, source] of WEBHOOK_SOURCES) {
    it(`${name}: any body becomes events or dead letters, never a throw`, async () => {
      await fc.assert(fc.asyncProperty(bodies, async (body) => {
        const items = await source.parse(body, context())
        for (const item of items) {
          expect(["event", "deadLetter"]).toContain(item._tag)
          if (item._tag === "deadLetter") expect(item.deadLetter.rejection.message).not.toBe("")
          else expect(Number.isNaN(Date.parse(item.event.timestamp))).toBe(false)
        }
      }), { numRuns: 150 })
    })
  }
})
