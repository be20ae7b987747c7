// An export never keys or fills a profile's e-mail with an address identity refused to it: a signed-in user (u10) who
// states another user's (u11's) address keeps none of it downstream, or u10's CRM upsert (keyed by e-mail) would
// overwrite u11's contact.
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { audienceMembers, createAudience, refreshAudiences } from "../../identity/audiences/index.ts"
import { type DestinationConfig, parseDestinations, syncDestination } from "../../ingest/destinations/index.ts"
import { hubspotServer } from "../support/crm-replay-servers.ts"
import { exportTestDirs } from "../support/export-dirs.ts"
import { prefs, submit, web, withConsent } from "../consent/support.ts"

let dir: string
const { keep } = exportTestDirs((d) => { dir = d })

const dest = (d: Record<string, unknown>): DestinationConfig => parseDestinations(JSON.stringify({ acme: [d] }))[0]!
const fast = { maxAttempts: 3, timeoutMs: 2000, maxRetryAfterMs: 5000 }

/** u11 holds the address (identify, then a mail to it); u10 later states it in its own identify. */
const claim = Effect.gen(function* () {
  yield* submit([web("u11-1", 1, { type: "identify", userId: "u11", traits: { email: "X@Example.com", first_name: "Eleven" }, context: prefs({ CrmSync: true }) })])
  yield* submit([web("u10-1", 3, { type: "identify", userId: "u10", traits: { email: "x@example.com", first_name: "Ten" }, context: prefs({ CrmSync: true }) })])
})

describe("an export of a profile that stated another person's e-mail", () => {
  it("a whole-profile export (files, webhook) carries the address only in its holder's record", async () => {
    const config = dest({ name: "files", type: "ndjson", purpose: "CrmSync" })
    const r = await withConsent(dir, Effect.gen(function* () {
      yield* claim
      return yield* syncDestination(config, { dryRun: true })
    }))
    const records = r.planned![0]!.body as Array<Record<string, unknown>>
    expect(records).toHaveLength(2)
    const ten = records.find((x) => JSON.stringify(x).includes("\"Ten\""))!
    const eleven = records.find((x) => JSON.stringify(x).includes("\"Eleven\""))!
    expect(JSON.stringify(eleven).toLowerCase()).toContain("x@example.com")
    expect(JSON.stringify(ten).toLowerCase()).not.toContain("x@example.com")
  }, 60_000)

  it("a CRM upsert keyed by e-mail (identifier, falling back to the trait) never keys the claimant by the holder's address", async () => {
    const hs = keep(await hubspotServer())
    const config = dest({
      name: "crm", type: "hubspot", purpose: "CrmSync", token: "hs-token", url: hs.url, idProperty: "email", ...fast,
      fields: { email: "identifier:email|trait:email", firstname: "trait:first_name" },
    })
    const r = await withConsent(dir, Effect.gen(function* () {
      yield* claim
      return yield* syncDestination(config)
    }))
    // u11's contact keeps u11's name: u10, with no address of its own, is not upserted by it (dead-lettered instead).
    const contacts = [...hs.contacts.values()].map((c) => c.properties)
    expect(contacts.map((c) => [c["email"]?.toLowerCase(), c["firstname"]])).toEqual([["x@example.com", "Eleven"]])
    expect(r.upserted).toBe(1)
  }, 60_000)
})

describe("an audience on e-mail", () => {
  it("a trait condition on the address has its holder as member, not the profile that only claimed it", async () => {
    const r = await withConsent(dir, Effect.gen(function* () {
      yield* claim
      const audience = yield* createAudience("acme", { name: "X", purpose: "CrmSync", condition: { trait: "email", in: ["x@example.com", "X@Example.com"] } }, "test")
      const exists = yield* createAudience("acme", { name: "Has e-mail", purpose: "CrmSync", condition: { trait: "email", exists: true } }, "test")
      yield* refreshAudiences({ tenant: "acme" })
      return { byAddress: yield* audienceMembers("acme", audience.id), withEmail: yield* audienceMembers("acme", exists.id) }
    }))
    expect(r.byAddress.members.map((m) => m.why[0]?.value)).toEqual(["\"X@Example.com\""])
    expect(r.withEmail.members).toHaveLength(1)
  }, 60_000)
})
