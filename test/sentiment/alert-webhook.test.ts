// The listening alert's webhook call: a redirect is not followed (the server would request an address nobody
// configured), and an answer's body is not read (an endless one held memory and the report until the timeout).
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { type AlertPayload, deliverAlert } from "../../sentiment/listen.ts"

const servers: Array<Server> = []
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    s.close()
  }
})

const serve = async (handle: Parameters<typeof createServer>[1]) => {
  const server = createServer(handle)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const PAYLOAD: AlertPayload = {
  type: "cdp.listen.alert", tenant: "acme", alert_id: "a1", kind: "negative_spike", day: "2024-10-01", value: 40,
  baseline_median: 4, threshold: 12, mentions: 50, negative: 40, text: "40 negative mentions on 2024-10-01",
}

describe("alert webhook", () => {
  it("does not follow a redirect, and says so", async () => {
    let reached = 0
    const inside = await serve((_req, res) => { reached++; res.end("ok") })
    const hook = await serve((_req, res) => { res.writeHead(302, { location: `${inside}/admin` }); res.end() })
    expect(await deliverAlert(hook, PAYLOAD)).toBe("HTTP 302 (a redirect: not followed)")
    expect(reached).toBe(0)
  })

  it("does not read an answer's body: an endless one neither holds the call nor fails it", async () => {
    const hook = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" })
      const chunk = "x".repeat(64 * 1024)
      const more = () => { if (!res.destroyed) res.write(chunk, () => setImmediate(more)) }
      more()
    })
    // Delivered: before, the body was read until the call's 5 s timeout cut it ("timeout" or ECONNRESET). No bound in
    // milliseconds (3 s was one a loaded machine could miss by chance): the call's own timeout is what tells.
    expect(await deliverAlert(hook, PAYLOAD)).toBeUndefined()
  })

  it("calls no host name that resolves to this machine or a private network, and connects to the address checked", async () => {
    let reached = 0
    const hook = await serve((_req, res) => { reached++; res.end("ok") })
    const port = new URL(hook).port
    // localhost resolves to 127.0.0.1 (/etc/hosts): a name is no way to this machine.
    expect(await deliverAlert(`http://localhost:${port}/alerts`, PAYLOAD)).toBe("refused: its host name resolves to a loopback address (this machine): " +
      "refused (write the receiver's address in CDP_ALERT_WEBHOOK_URL, or set CDP_ALERT_WEBHOOK_PRIVATE_NETWORK=true for a receiver on this machine or the private network)")
    const metadata = async () => [{ address: "169.254.169.254", family: 4 as const }]
    expect(await deliverAlert(`http://hooks.example:${port}/alerts`, PAYLOAD, { resolve: metadata })).toMatch(/^refused: its host name resolves to a link-local address/)
    expect(await deliverAlert(`http://169.254.169.254/latest/meta-data/`, PAYLOAD)).toMatch(/^refused: the webhook's address is a link-local address/)
    expect(reached).toBe(0)
    // The address written is taken.
    expect(await deliverAlert(hook, PAYLOAD)).toBeUndefined()
    expect(reached).toBe(1)
  }, 20_000)

  it("does not POST to a port of another protocol (mail, SSH, ...): the alert URL is no way to speak to them", async () => {
    expect(await deliverAlert("http://127.0.0.1:6000/alerts", PAYLOAD))
      .toBe("refused: port 6000 belongs to another protocol (such as mail or SSH, a Fetch standard bad port): cdp sends no HTTP there")
  })

  it("gives up on a host name whose resolution never ends within its 5 s, saying timeout (the report waited without end)", async () => {
    const never = () => new Promise<never>(() => {})
    const started = performance.now()
    // Before, it never answered, and the test's own limit (15 s, three times the call's) failed it; "timeout" is the
    // call's timer's answer, not a bound in milliseconds on this machine (7 s was one a loaded machine could miss).
    expect(await deliverAlert("https://hooks.example/alerts", PAYLOAD, { resolve: never })).toBe("timeout")
    expect(performance.now() - started).toBeGreaterThanOrEqual(4_900)
  }, 15_000)

  it("calls a host name on this machine or the private network with the opt-in (CDP_ALERT_WEBHOOK_PRIVATE_NETWORK), never a link-local one", async () => {
    let reached = 0
    const hook = await serve((_req, res) => { reached++; res.end("ok") })
    const port = new URL(hook).port
    // The refusal without it says how to reach such a receiver.
    expect(await deliverAlert(`http://localhost:${port}/alerts`, PAYLOAD)).toBe("refused: its host name resolves to a loopback address (this machine): " +
      "refused (write the receiver's address in CDP_ALERT_WEBHOOK_URL, or set CDP_ALERT_WEBHOOK_PRIVATE_NETWORK=true for a receiver on this machine or the private network)")
    expect(await deliverAlert(`http://localhost:${port}/alerts`, PAYLOAD, { privateNetwork: true })).toBeUndefined()
    // The call goes to the address checked: the system cannot resolve this name (and no public address is called here:
    // this machine's tests send nothing off it).
    const local = async () => [{ address: "127.0.0.1", family: 4 as const }]
    expect(await deliverAlert(`http://hooks.rebind.invalid:${port}/alerts`, PAYLOAD, { privateNetwork: true, resolve: local })).toBeUndefined()
    const metadata = async () => [{ address: "169.254.169.254", family: 4 as const }]
    expect(await deliverAlert(`http://hooks.example:${port}/alerts`, PAYLOAD, { privateNetwork: true, resolve: metadata })).toMatch(/^refused: its host name resolves to a link-local address/)
    expect(reached).toBe(2)
  })
})
