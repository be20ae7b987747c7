// A data-subject request about a person with more identifiers than one warehouse search takes. Found probing cdp
// serve: a person identified under 10,000 anonymous ids and e-mail addresses (one userId), then POST /v1/dsr
// {"type":"access","identifier":"user_id:bigu"} answered 201 with status failed and "WarehouseUnavailable: Number of
// arguments for function multiSearchAnyCaseInsensitiveUTF8 doesn't match: passed 20000, should be at most 255": no right
// of theirs (an erasure neither) could ever complete.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { auditSigner } from "../../consent/audit.ts"
import { submitRequest } from "../../consent/dsr.ts"
import { Keys } from "../../consent/keys.ts"
import { importFile } from "../../ingest/import.ts"
import { mentionsNeedle } from "../../warehouse/erasure.ts"
import { freshDir, query, removeDir, withPipeline } from "../support/pipeline.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const N = 300

describe("a person with many identifiers", () => {
  it("many needles are found as whole tokens exactly as a few are (the archive's and objects' check)", () => {
    const others = Array.from({ length: 500 }, (_, i) => `anon-many-${i}`)
    const texts = [
      '{"userId":"204817"}', '{"phone":204817}', "please erase 204817.", "write to ANN@X.EXAMPLE, thanks", "mailto:ann@x.example",
      '{"order":"92048175"}', '{"total":204817.5}', "ref 204817x and 1-204817", "joann@x.example", "ann@x.example-old",
      "anon-many-7", "xanon-many-7", "anon-many-77x", "ANON-MANY-499 said", "", "anon-many-", "née ann@x.example",
    ]
    const few = mentionsNeedle(["204817", "ann@x.example"])
    const many = mentionsNeedle(["204817", "ann@x.example", ...others])
    const alone = (t: string) => few(t) || others.some((o) => mentionsNeedle([o])(t))
    for (const t of texts) expect(many(t), t).toBe(alone(t))
    expect(many("anon-many-7")).toBe(true)
    expect(many("xanon-many-7")).toBe(false)
  })


  it(`access and erasure of a person with ${N} anonymous ids and ${N} addresses complete, and the erasure leaves nothing of them`, () => {
    const file = join(dir, "many.ndjson")
    const lines = Array.from({ length: N }, (_, i) => JSON.stringify({
      type: "identify", messageId: `m-${i}`, userId: "u-many", anonymousId: `anon-many-${i}`, timestamp: "2024-09-01T10:00:00.000Z",
      traits: { email: `many${i}@x.example` },
    }))
    lines.push(JSON.stringify({ type: "identify", messageId: "m-bob", userId: "u-bob", timestamp: "2024-09-01T10:00:00.000Z", traits: { email: "bob@x.example" } }))
    writeFileSync(file, lines.join("\n"))
    const data = join(dir, "data")
    return withPipeline(data, Effect.gen(function* () {
      yield* importFile("segment", file, { tenant: "acme" })
      const env = { signer: yield* auditSigner(data) }
      const access = yield* submitRequest(env, { tenant: "acme", type: "access", identifier: "user_id:u-many" })
      expect(access.error).toBe("")
      expect(access.status).toBe("completed")
      expect(access.done.find((d) => d.where === "event_rows")?.count).toBe(N)

      const erasure = yield* submitRequest(env, { tenant: "acme", type: "erasure", identifier: "user_id:u-many" })
      expect(erasure.error).toBe("")
      expect(erasure.status).toBe("completed")
      const left = yield* query<{ n: string }>("SELECT count() AS n FROM events WHERE tenant = 'acme' AND user_id = 'u-many'")
      expect(Number(left[0]!.n)).toBe(0)
      const bob = yield* query<{ n: string }>("SELECT count() AS n FROM events WHERE tenant = 'acme' AND user_id = 'u-bob'")
      expect(Number(bob[0]!.n)).toBe(1)
    }).pipe(Effect.provide(Keys.fromDataDir(data))))
  }, 300_000)
})
