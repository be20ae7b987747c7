// CDP_DESTINATIONS is checked by its schema and per type, with errors naming the field; credentials never show.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { parseDestinations, redacted } from "../../ingest/destinations/index.ts"
import { signature, verifySignature } from "../../ingest/destinations/webhook.ts"
import { mapField, profileOf } from "../../ingest/destinations/record.ts"

const one = (d: Record<string, unknown>) => JSON.stringify({ acme: [d] })

describe("destination configuration", () => {
  it("fills each type's defaults and keeps tenants apart", () => {
    const all = parseDestinations(JSON.stringify({
      acme: [{ name: "crm", type: "hubspot", purpose: "CrmSync", token: "pat-secret-1" }],
      globex: [{ name: "crm", type: "salesforce", purpose: "CrmSync", url: "https://globex.my.salesforce.com", token: "00Dsecret" }],
    }))
    expect(all.map((d) => [d.tenant, d.name, d.type, d.batchSize])).toEqual([["acme", "crm", "hubspot", 100], ["globex", "crm", "salesforce", 200]])
    expect(all[0]!.url).toBe("https://api.hubapi.com")
    expect(all[1]!.externalIdField).toBe("CDP_Profile_Id__c")
  })

  it.each([
    [one({ name: "x", type: "hubspot", purpose: "CrmSync" }), "/acme/0/token: a hubspot destination needs a private app access token"],
    [one({ name: "x", type: "webhook", purpose: "CrmSync", url: "https://h.example/in" }), "/acme/0/secret: a webhook destination needs a signing secret"],
    [one({ name: "x", type: "hubspot", purpose: "CrmSync", token: "t", batchSize: 250 }), "/acme/0/batchSize: hubspot takes at most 100 records a request, not 250"],
    [one({ name: "x", type: "salesforce", purpose: "CrmSync", url: "https://a.example", token: "t", batchSize: 201 }), "salesforce takes at most 200"],
    [one({ name: "x", type: "ftp", purpose: "CrmSync" }), "/acme/0/type: must be one of ndjson, csv, webhook, hubspot, salesforce"],
    // A rate of 1e-300 was taken, and a run waited forever for its second request (the bucket slept 1e303 ms).
    [one({ name: "x", type: "csv", purpose: "CrmSync", ratePerSecond: 1e-300 }), "/acme/0/ratePerSecond: must be >= 0.001"],
    [one({ name: "x", type: "csv" }), "/acme/0/purpose: is required"],
    [one({ name: "x", type: "csv", purpose: "CrmSync", tokn: "t" }), `/acme/0: unknown setting "tokn"`],
    [one({ name: "x", type: "csv", purpose: "CrmSync", token: "t" }), "/acme/0/token: not a setting of a csv destination"],
    [one({ name: "x", type: "csv", purpose: "CrmSync", fields: { a: "trait" } }), "/acme/0/fields/a: must be profile_id"],
    [one({ name: "x", type: "hubspot", purpose: "CrmSync", token: "t", onErasure: "anonymise" }), `"anonymise" is for salesforce`],
    [JSON.stringify({ acme: [{ name: "x", type: "csv", purpose: "P" }, { name: "x", type: "ndjson", purpose: "P" }] }), `/acme/1/name: "x" is used twice`],
    ["{not json", "not JSON"],
    ["@/nonexistent/destinations.json", "cannot read /nonexistent/destinations.json: ENOENT"],
  ])("refuses %s naming what is wrong", (text, words) => {
    expect(() => parseDestinations(text)).toThrow(words)
  })

  const hook = (url: string, extra: Record<string, unknown> = {}) =>
    one({ name: "x", type: "webhook", purpose: "CrmSync", url, secret: "0123456789abcdef-secret", ...extra })

  it.each([
    ["http://crm.example/in", "/acme/0/url: must be https"],
    ["https://169.254.169.254/latest/meta-data/", "/acme/0/url: 169.254.169.254 is a link-local address"],
    ["https://2852039166/latest", "/acme/0/url: 169.254.169.254 is a link-local address"],
    ["https://[fe80::1]/in", "/acme/0/url: [fe80::1] is a link-local address"],
    ["https://[::ffff:169.254.169.254]/in", "is a link-local address"],
    ["https://metadata.google.internal/computeMetadata/v1/", "/acme/0/url: metadata.google.internal is a cloud metadata service"],
    // Probing found these taken: AWS's instance metadata over IPv6 (a unique-local address, not link-local) and
    // Alibaba Cloud's, each in the forms the URL parser writes.
    ["http://[fd00:ec2::254]/latest/meta-data/", "/acme/0/url: [fd00:ec2::254] is a cloud metadata service"],
    ["https://[fd00:0ec2:0:0:0:0:0:0254]/latest/api/token", "/acme/0/url: [fd00:ec2::254] is a cloud metadata service"],
    ["http://100.100.100.200/latest/meta-data/", "/acme/0/url: 100.100.100.200 is a cloud metadata service"],
    ["https://[::ffff:100.100.100.200]/latest/meta-data/", "/acme/0/url: 100.100.100.200 is a cloud metadata service"],
    ["https://0.0.0.0:8080/in", "/acme/0/url: 0.0.0.0 is no host to send to"],
    ["file:///etc/passwd", "/acme/0/url: must match"],
    // Probing found both taken: the first failed every run ("network: Request cannot be constructed from a URL that
    // includes credentials", every profile dead-lettered) and printed the password in dry-run; the second said only
    // "Invalid URL".
    ["https://user:pw@h.example/in", "/acme/0/url: must not hold a user name or password"],
    ["https://", "/acme/0/url: is not a URL"],
  ])("refuses a destination URL %s, which can only leak what it is sent (%s)", (url, words) => {
    expect(() => parseDestinations(hook(url))).toThrow(words)
    // allowHttp allows a scheme, never an address.
    if (!url.startsWith("http://crm")) expect(() => parseDestinations(hook(url, { allowHttp: true }))).toThrow(words)
  })

  // Probing found these taken, then refused at every delivery (a dead letter a run) instead of at start.
  it.each([
    ["https://[64:ff9b::a9fe:a9fe]/in", "/acme/0/url: [64:ff9b::a9fe:a9fe] is a link-local address (such as a cloud metadata service), not a destination"],
    ["https://[2002:a9fe:a9fe::]/in", "/acme/0/url: [2002:a9fe:a9fe::] is a link-local address"],
    ["https://[64:ff9b::6464:64c8]/in", "/acme/0/url: [64:ff9b::6464:64c8] is a cloud metadata service, not a destination"],
    ["https://224.0.0.1/in", "/acme/0/url: 224.0.0.1 is a multicast address, not a destination"],
    ["https://255.255.255.255/in", "/acme/0/url: 255.255.255.255 is a reserved address, not a destination"],
    ["https://crm.example:0/in", "/acme/0/url: port 0 is no port to send to"],
  ])("refuses a destination URL %s whose address or port no receiver has (%s)", (url, words) => {
    expect(() => parseDestinations(hook(url, { allowHttp: true }))).toThrow(words)
  })

  // Probing found a webhook on port 1 taken: every run dead-lettered every record, "network: bad port" in the log.
  it.each([
    ["http://127.0.0.1:1/hook", "/acme/0/url: port 1 belongs to another protocol (such as mail or SSH, a Fetch standard bad port): cdp sends no HTTP there"],
    ["https://crm.example:25/in", "/acme/0/url: port 25 belongs to another protocol"],
    ["https://crm.example:6000/in", "/acme/0/url: port 6000 belongs to another protocol"],
  ])("refuses a destination URL %s on a port no request can be sent to (%s)", (url, words) => {
    expect(() => parseDestinations(hook(url, { allowHttp: true }))).toThrow(words)
  })

  it("takes https anywhere, and http only to this machine (the local replay servers, a sidecar) or where allowHttp says so", () => {
    for (const url of ["https://crm.example/in", "http://127.0.0.1:8080/in", "http://localhost:8080/in", "http://[::1]:8080/in", "https://10.0.0.7/in", "https://crm.example:8443/in"]) {
      expect(parseDestinations(hook(url))[0]!.url, url).toBe(url)
    }
    expect(parseDestinations(hook("http://crm.internal.example/in", { allowHttp: true }))[0]!.url).toBe("http://crm.internal.example/in")
    expect(() => parseDestinations(hook("https://crm.example/in", { allowHttp: "yes" }))).toThrow("/acme/0/allowHttp: must be boolean")
    expect(() => parseDestinations(one({ name: "x", type: "csv", purpose: "CrmSync", allowHttp: true }))).toThrow("/acme/0/allowHttp: not a setting of a csv destination")
  })

  it("shows credentials redacted, in the token, the secret and a URL's query and path", () => {
    const [hub, hook, slack] = parseDestinations(JSON.stringify({
      acme: [
        { name: "crm", type: "hubspot", purpose: "CrmSync", token: "pat-na1-very-secret" },
        { name: "hook", type: "webhook", purpose: "CrmSync", url: "https://h.example/in?key=abc", secret: "0123456789abcdef-secret" },
        // A capability URL: whoever has its path may post to it (chat and automation services' incoming hooks).
        { name: "slack", type: "webhook", purpose: "CrmSync", url: "https://hooks.example/services/T0001/B0002/XyZsecretPart", secret: "another-secret-0123" },
      ],
    }))
    const shown = JSON.stringify([redacted(hub!), redacted(hook!), redacted(slack!)])
    for (const secret of ["pat-na1-very-secret", "0123456789abcdef-secret", "key=abc", "XyZsecretPart", "T0001"]) expect(shown).not.toContain(secret)
    expect(redacted(slack!)["url"]).toBe("https://hooks.example/***")
    expect(redacted(hook!)["url"]).toBe("https://h.example/***?***")
  })

  it("reads @FILE as editors save it (UTF-8 with a byte order mark) and names a directory or a UTF-16 file", () => {
    const dir = mkdtempSync(join(tmpdir(), "cdp-dest-"))
    try {
      const text = one({ name: "crm", type: "hubspot", purpose: "CrmSync", token: "t" })
      writeFileSync(join(dir, "bom.json"), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]))
      expect(parseDestinations(`@${join(dir, "bom.json")}`).map((d) => [d.tenant, d.name, d.type])).toEqual([["acme", "crm", "hubspot"]])
      writeFileSync(join(dir, "utf16.json"), Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]))
      expect(() => parseDestinations(`@${join(dir, "utf16.json")}`)).toThrow(`cannot read ${join(dir, "utf16.json")}: it is UTF-16 text; save it as UTF-8`)
      expect(() => parseDestinations(`@${dir}`)).toThrow(`cannot read ${dir}: it is a directory, not a file`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("webhook signatures", () => {
  it("verify for the right secret and body within five minutes only", () => {
    const body = '{"id":"b_1"}'
    const now = 1_700_000_000
    const header = signature("s".repeat(16), now, body)
    expect(header).toMatch(/^t=1700000000,v1=[0-9a-f]{64}$/)
    expect(verifySignature("s".repeat(16), header, body, now)).toBe(true)
    expect(verifySignature("t".repeat(16), header, body, now)).toBe(false)
    expect(verifySignature("s".repeat(16), header, `${body} `, now)).toBe(false)
    expect(verifySignature("s".repeat(16), header, body, now + 301)).toBe(false)
  })
})

describe("field mapping", () => {
  it("takes the first source the profile has, with literals last", () => {
    const p = profileOf({
      profile_id: "p1", identifiers: [["email", "a@x.example"]], traits: { name: '"Ann Lee"', plan: '{"tier":"gold"}' },
      first_seen: "", last_seen: "", fingerprint: "", present: 0, remote_id: "",
    })
    expect(mapField(p, "trait:last_name|trait:name|=Unknown")).toBe("Ann Lee")
    expect(mapField(p, "trait:last_name|=Unknown")).toBe("Unknown")
    expect(mapField(p, "identifier:email")).toBe("a@x.example")
    expect(mapField(p, "trait:plan")).toBe('{"tier":"gold"}')
    expect(mapField(p, "identifier:phone")).toBeUndefined()
  })

  it("names only the profile's own traits and identifiers: __proto__ is a trait, constructor is nothing inherited", () => {
    const p = profileOf({
      profile_id: "p1", identifiers: [["__proto__", "x"]], traits: { ["__proto__"]: '"kept"', plan: '"pro"' },
      first_seen: "", last_seen: "", fingerprint: "", present: 0, remote_id: "",
    })
    expect(Object.keys(p.traits)).toEqual(["__proto__", "plan"])
    expect(JSON.parse(JSON.stringify(p.traits))).toEqual(JSON.parse('{"__proto__": "kept", "plan": "pro"}'))
    expect(mapField(p, "trait:__proto__")).toBe("kept")
    expect(mapField(p, "trait:constructor|=none")).toBe("none")
    expect(mapField(p, "identifier:constructor|=none")).toBe("none")
    expect(mapField(p, "identifier:__proto__")).toBe("x")
  })
})
