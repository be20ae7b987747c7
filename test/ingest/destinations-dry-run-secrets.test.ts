// A dry run (POST /v1/exports/{destination}/dry-run, `cdp export dry-run`) shows each planned request's URL with the
// destination's credentials cut, as `cdp export status` shows its configuration: a capability URL's path and query
// (an incoming hook's path is its credential) and a user name or password. Seen probing cdp serve: the status answered
// "url": "http://127.0.0.1:18931/***?***", and the dry run of the same webhook "url":
// "http://127.0.0.1:18931/hook/SECRETPATH?k=QUERYSECRET", whole.
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { CanonicalEvent } from "../../ingest/message.ts"
import { type DestinationConfig, parseDestinations, redacted, syncDestination } from "../../ingest/destinations/index.ts"
import { exportTestDirs } from "../support/export-dirs.ts"
import { prefs, submit, web, withConsent } from "../consent/support.ts"

let dir: string
exportTestDirs((d) => { dir = d })

const person = (n: number): CanonicalEvent =>
  web(`m-${n}`, 1, { type: "identify", userId: `u${n}`, traits: { email: `person${n}@mail.example` }, context: prefs({ CrmSync: true }) })

const dest = (d: Record<string, unknown>): DestinationConfig => parseDestinations(JSON.stringify({ acme: [d] }))[0]!

describe("a dry run's planned requests", () => {
  it("show the destination's URL with its path, query and credentials cut, as its status shows it", async () => {
    const hook = dest({ name: "hook", type: "webhook", purpose: "CrmSync", url: "https://hooks.example/services/T0SECRETPATH?key=QUERYSECRET", secret: "whsec_0123456789abcdef" })
    // A HubSpot reached through a proxy whose path is its key: cdp's own API path after it is no secret and stays.
    const crm = dest({ name: "crm", type: "hubspot", purpose: "CrmSync", token: "pat-TOKEN", url: "https://proxy.example/PROXYKEY" })
    const sf = dest({ name: "sales", type: "salesforce", purpose: "CrmSync", token: "00D-TOKEN", url: "https://acme.my.salesforce.com" })
    const r = await withConsent(dir, Effect.gen(function* () {
      yield* submit([person(1), person(2)])
      return yield* Effect.forEach([hook, crm, sf], (c) => syncDestination(c, { dryRun: true }))
    }))
    for (const report of r) expect(report.error, report.destination).toBeUndefined()
    const [h, c, s] = r.map((report) => report.planned!.map((p) => p.url))
    expect(h).toEqual([redacted(hook).url])
    expect(h).toEqual(["https://hooks.example/***?***"])
    expect(c).toEqual(["https://proxy.example/***/crm/v3/objects/contacts/batch/upsert"])
    // Nothing of the configuration to cut: the request's URL as it is sent.
    expect(s).toEqual(["https://acme.my.salesforce.com/services/data/v62.0/composite/sobjects/Contact/CDP_Profile_Id__c"])
    const text = JSON.stringify(r)
    for (const secret of ["SECRETPATH", "QUERYSECRET", "PROXYKEY", "whsec_", "pat-TOKEN", "00D-TOKEN"]) expect(text, secret).not.toContain(secret)
  }, 120_000)
})
