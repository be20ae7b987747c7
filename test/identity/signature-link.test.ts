// What a mail's signature states, through the real connectors and pipeline: a phone signed under a mail from a
// second mailbox brings that mail into the account that gave the phone; an office number signed by two staff
// mailboxes brings neither into it.
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { CORROBORATED } from "../../identity/graph.ts"
import { runCdp } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

const ENV = { CDP_PHONE_REGIONS: "US,GB" }
let dir: string
let lastData = ""
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const identify = (userId: string, email: string, phone: string, day: number) => JSON.stringify({
  type: "identify", messageId: `identify-${userId}`, userId, anonymousId: `anon-${userId}`,
  timestamp: `2024-09-0${day}T10:00:00.000Z`, traits: { email, phone },
})

const mail = (id: string, from: string, day: number, signature: string) => [
  `From: ${from}`, "To: support@shop.example", `Subject: my order`, `Date: Mon, 0${day} Sep 2024 12:00:00 +0000`,
  `Message-ID: <${id}@mail.example>`, "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "",
  "Hello, my parcel has not arrived yet.", "", "Kind regards,", ...signature.split("\n"), "",
].join("\r\n")

const land = (files: { web: string; mails: ReadonlyArray<readonly [string, string]> }) => {
  const data = join(dir, "data")
  const web = join(dir, "web.ndjson")
  writeFileSync(web, `${files.web}\n`)
  const mails = join(dir, "mails")
  mkdirSync(mails)
  for (const [name, text] of files.mails) writeFileSync(join(mails, `${name}.eml`), text)
  for (const [source, path] of [["segment", web], ["email", mails]] as const) {
    const r = runCdp(["ingest", "--source", source, path, "--data-dir", data], { env: ENV })
    expect(r.stderr, source).toBe("")
  }
  const rows = runCdp(["query", "SELECT message_id, profile_id FROM events", "--data-dir", data], { env: ENV })
  expect(rows.stderr).toBe("")
  lastData = data
  return new Map(rows.stdout.trim().split("\n").map((l) => JSON.parse(l) as { message_id: string; profile_id: string }).map((r) => [r.message_id, r.profile_id]))
}

describe("links stated in mail signatures", () => {
  // One landing for both (each cdp run starts the engine): a customer and an office, apart.
  it("a phone signed under a second mailbox's mail joins the account that gave it; an office number two staff sign joins neither", () => {
    const profiles = land({
      web: [identify("u1", "ann@shop-customer.example", "+44 7700 900123", 1), identify("u2", "boss@office.example", "020 7946 0123", 2)].join("\n"),
      mails: [
        ["m1", mail("m1", "Ann <ann.home@elsewhere.example>", 3, "Ann Example\nM: 07700 900123")],
        ["m2", mail("m2", "bob@office.example", 3, "Bob\nOffice Ltd\nTel: 020 7946 0123")],
        ["m3", mail("m3", "cy@office.example", 4, "Cy\nOffice Ltd\nTel: +44 20 7946 0123")],
      ],
    })
    expect(profiles.get("m1@mail.example")).toBe(profiles.get("identify-u1"))
    // The explanation a marketer reads names the signed phone and why a typed value could join.
    const why = runCdp(["identity", "explain", "ann.home@elsewhere.example", "ann@shop-customer.example", "--format", "json", "--data-dir", lastData], { env: ENV })
    expect(why.stderr).toBe("")
    expect(JSON.parse(why.stdout)).toMatchObject({ joined: true, chain: expect.arrayContaining([
      expect.objectContaining({ b: "phone:+447700900123", rule: CORROBORATED, messageId: "m1@mail.example" })]) })
    const office = ["m2@mail.example", "m3@mail.example", "identify-u2"].map((id) => profiles.get(id))
    expect(new Set(office).size).toBe(3)
    expect(office).not.toContain(profiles.get("identify-u1"))
  }, 60_000)
})
