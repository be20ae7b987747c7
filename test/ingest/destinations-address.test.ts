// A destination's host NAME is resolved at delivery time and its answers checked: a name resolving to this machine,
// the private network, a link-local address or a metadata service gets nothing (a name checked only as written let
// DNS point cdp's requests, with profiles and tokens, there), and the connection goes to the address checked.
import { Effect } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { addressKind, type DestinationConfig, parseDestinations, syncDestination } from "../../ingest/destinations/index.ts"
import { request } from "../../ingest/destinations/http.ts"
import { deliveryHistory } from "../../warehouse/exports.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { prefs, submit, web, withConsent } from "../consent/support.ts"
import { listen } from "../support/local-server.ts"

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

const hookAt = (url: string, extra: Record<string, unknown> = {}): DestinationConfig =>
  parseDestinations(JSON.stringify({ acme: [{
    name: "hook", type: "webhook", purpose: "CrmSync", url, secret: "0123456789abcdef-secret", maxAttempts: 3, ...extra,
  }] }))[0]!

describe("a destination whose host name resolves to a private address", () => {
  it("gets nothing (localhost resolves to 127.0.0.1): the record is dead-lettered at once, the log says why", async () => {
    let reached = 0
    const receiver = await listen((_req, res) => { reached++; res.writeHead(200).end("{}") })
    try {
      const port = new URL(receiver.url).port
      const refused = hookAt(`http://localhost:${port}/in`)
      const opted = { ...hookAt(`http://localhost:${port}/in`, { privateNetwork: true }), name: "hook2" }
      const { r, details, r2 } = await withConsent(dir, Effect.gen(function* () {
        yield* submit([web("m-1", 1, { type: "identify", userId: "u1", traits: { email: "ann@mail.example" }, context: prefs({ CrmSync: true }) })])
        const r = yield* syncDestination(refused)
        const details = (yield* deliveryHistory("acme", "hook", 10)).map((d) => d.detail)
        const r2 = yield* syncDestination(opted)
        return { r, details, r2 }
      }))
      expect([r.upserted, r.deadLettered, r.requests]).toEqual([0, 1, 1])
      expect(details).toEqual([expect.stringContaining("not sent: localhost resolves to a loopback address (this machine): refused")])
      // The operator's opt-in for a receiver on this machine or the private network.
      expect([r2.upserted, r2.deadLettered]).toEqual([1, 0])
      expect(reached).toBe(1)
    } finally {
      receiver.server.close()
    }
  }, 60_000)

  it("connects to the address checked, not to a second lookup's answer", async () => {
    let reached = 0
    const receiver = await listen((_req, res) => { reached++; res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}') })
    try {
      const port = new URL(receiver.url).port
      // The system cannot resolve this name: only the checked answer can have been used.
      const resolve = async () => [{ address: "127.0.0.1", family: 4 as const }]
      const a = await request(`http://crm.rebind.invalid:${port}/in`, { method: "POST", headers: {}, body: "{}" }, AbortSignal.timeout(5000), { privateNetwork: true, resolve })
      expect([a.status, a.json, reached]).toEqual([200, { ok: true }, 1])
      // One private answer among public ones is refused whole; link-local is refused even with the opt-in.
      const mixed = async () => [{ address: "93.184.216.34", family: 4 as const }, { address: "10.1.2.3", family: 4 as const }]
      await expect(request(`http://crm.example:${port}/in`, { method: "POST", headers: {} }, AbortSignal.timeout(5000), { resolve: mixed }))
        .rejects.toThrow("crm.example resolves to a private address: refused")
      const metadata = async () => [{ address: "169.254.169.254", family: 4 as const }]
      await expect(request(`http://crm.example:${port}/in`, { method: "POST", headers: {} }, AbortSignal.timeout(5000), { privateNetwork: true, resolve: metadata }))
        .rejects.toThrow("crm.example resolves to a link-local address")
      expect(reached).toBe(1)
    } finally {
      receiver.server.close()
    }
  })

  it("a name whose resolution never ends is given up when the request's signal fires (the lookup held it without end)", async () => {
    const never = () => new Promise<never>(() => {})
    const started = performance.now()
    // Before, it never ended, and the test's own limit (10 s) failed it. The signal's abort is what ends it, not a
    // bound in milliseconds on this machine (2 s was one a loaded machine could miss by chance).
    await expect(request("https://crm.example/in", { method: "POST", headers: {}, body: "{}" }, AbortSignal.timeout(300), { resolve: never }))
      .rejects.toThrow(/aborted/i)
    expect(performance.now() - started).toBeGreaterThanOrEqual(290)
  }, 10_000)

  it("a port of another protocol is refused before any connection, whoever calls (a destination, the alert webhook)", async () => {
    // An aborted signal: were the port not refused first, the request would stop there, sending nothing.
    await expect(request("http://127.0.0.1:25/in", { method: "POST", headers: {}, body: "{}" }, AbortSignal.abort()))
      .rejects.toThrow("port 25 belongs to another protocol (such as mail or SSH, a Fetch standard bad port): cdp sends no HTTP there")
  })

  it.each([
    // As NAT64 writes a link-local or metadata address: the configuration's checks know only ::ffff:.
    ["https://[64:ff9b::a9fe:a9fe]/in", "a link-local address (such as a cloud metadata service)"], ["https://[64:ff9b::6464:64c8]/in", "a cloud metadata service"],
    ["http://224.0.0.1:8080/in", "a multicast address"], ["http://240.0.0.1:8080/in", "a reserved address"],
  ])("an address written in the URL that no receiver has (%s) is refused before any connection, not named", async (url, words) => {
    // An aborted signal: were the address not refused first, the request would stop there, sending nothing anywhere.
    const refusal = request(url, { method: "POST", headers: {}, body: "{}" }, AbortSignal.abort())
    await expect(refusal).rejects.toThrow(`the address written in the URL is ${words}: refused`)
    await expect(refusal).rejects.toSatisfy((e: Error) => !e.message.includes(new URL(url).hostname))
  })

  it.each([
    ["127.0.0.1", "loopback"], ["::1", "loopback"], ["::ffff:127.0.0.1", "loopback"], ["::ffff:a9fe:a9fe", "link-local"],
    ["10.0.0.7", "private"], ["172.20.1.1", "private"], ["192.168.1.1", "private"], ["fd12::1", "unique-local"],
    ["169.254.169.254", "link-local"], ["fe80::1", "link-local"], ["fd00:ec2::254", "metadata"], ["100.100.100.200", "metadata"],
    ["0.0.0.0", "unspecified"], ["::", "unspecified"], ["64:ff9b::7f00:1", "loopback"], ["100.64.0.1", "carrier-grade"],
    // An IPv4 address inside the other ways IPv6 writes one: 6to4, Teredo (its client, bits inverted), SIIT.
    ["2002:a9fe:a9fe::1", "link-local"], ["2002:7f00:1::", "loopback"], ["2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"],
    ["::ffff:0:a00:7", "private"], ["::7f00:1", "reserved"], ["64:ff9b:1::a00:7", "reserved"],
    ["fe80::1%eth0", "link-local"], ["fec0::1", "site-local"], ["255.255.255.255", "reserved"], ["192.0.2.10", "reserved"],
    ["203.0.113.5", "reserved"], ["2001:db8::1", "reserved"], ["100::1", "reserved"], ["ff02::1", "multicast"],
  ])("%s is not a public address (%s)", (address, words) => {
    expect(addressKind(address)?.kind).toContain(words)
  })

  it.each(["93.184.216.34", "8.8.8.8", "2606:4700::1111", "172.32.0.1", "2002:5db8:d822::1", "64:ff9b::808:808", "::ffff:8.8.8.8", "100.128.0.1"])("%s is a public address", (address) => {
    expect(addressKind(address)).toBeUndefined()
  })
})
