import { generateKeyPairSync, sign } from "node:crypto"
import { readFileSync } from "node:fs"
import { Effect, Layer } from "effect"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { backendConfig, pipelineLayer } from "../../cli/layers.ts"
import { Collector } from "../../ingest/collector.ts"
import { writeKeys } from "../../ingest/writekeys.ts"
import { basicAuth, freshDir, OTHER_TENANT_KEY, post, query, removeDir, withCollector, WRITE_KEY } from "../support/pipeline.ts"
import { checkResponse } from "../support/openapi.ts"
import { SIGNALS_DEV } from "../support/shared.ts"
import { pathToFileURL } from "node:url"

const DEV = pathToFileURL(SIGNALS_DEV)

/** A webhook post whose answer is checked against ingest/openapi.json, as the API's other routes are. */
const hook = (url: string, source: string, body: unknown, headers?: Record<string, string>, query = "") =>
  Effect.tap(post(`${url}/v1/webhooks/${source}${query}`, body, headers), (r) => Effect.sync(() => checkResponse(`/v1/webhooks/${source}`, "POST", r.status, r.body)))

let dir: string
beforeEach(() => { dir = freshDir() })
afterEach(() => removeDir(dir))

describe("webhook routes", () => {
  it("land a SendGrid event batch, a raw mail, a chat transcript, a calls CSV and social posts", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const sendgrid = (JSON.parse(readFileSync(new URL("email-events.json", DEV), "utf8")) as Array<unknown>).slice(0, 50)
        expect((yield* hook(url, "sendgrid", sendgrid)).body).toEqual({ success: true, accepted: 50 })
        const mail = readFileSync(new URL("email-inbound/20240910-001.eml", DEV), "utf8")
        expect((yield* hook(url, "email", mail, { authorization: basicAuth(WRITE_KEY), "content-type": "message/rfc822" })).status).toBe(200)
        const chat = readFileSync(new URL("chat.ndjson", DEV), "utf8").split("\n")[0]!
        expect((yield* hook(url, "chat", chat)).status).toBe(200)
        const calls = readFileSync(new URL("calls.csv", DEV), "utf8").split("\r\n").slice(0, 1).join("\r\n")
        const oneCall = `${calls}\r\nCA1,2024-09-16T09:28:50Z,60,inbound,+1 415 555 0134,Riley,Billing,resolved,"Thanks, all good"\r\n`
        expect((yield* hook(url, "calls", oneCall, { authorization: basicAuth(WRITE_KEY), "content-type": "text/csv" })).status).toBe(200)
        const social = JSON.stringify({ id: "r1", network: "reddit", author_handle: "hiker", text: "Love my new jacket", created_at: "2024-10-01T10:00:00Z" })
        expect((yield* hook(url, "social", social)).status).toBe(200)
        const channels = yield* query<{ channel: string; source: string; n: string }>(
          "SELECT channel, source, count() AS n FROM events GROUP BY channel, source ORDER BY source")
        expect(channels).toEqual([
          { channel: "call", source: "calls", n: "1" }, { channel: "chat", source: "chat", n: "1" },
          { channel: "email", source: "email", n: "1" }, { channel: "email", source: "sendgrid", n: "50" },
          { channel: "social", source: "social", n: "1" },
        ])
        // What customers wrote is kept once, in texts, and scored.
        expect(yield* query("SELECT count() AS n FROM texts")).toEqual([{ n: "4" }])
        expect(yield* query("SELECT count() AS n FROM sentiment")).toEqual([{ n: "4" }])
      })))

  it("refuse a webhook without a write key, accept ?write_key=, and name bad items", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        expect((yield* hook(url, "sendgrid", [], {})).status).toBe(401)
        const bad = yield* hook(url, "sendgrid", [{ event: "open" }], {}, `?write_key=${WRITE_KEY}`)
        expect(bad.status).toBe(400)
        expect(bad.body).toMatchObject({ accepted: 0, rejected: [{ field: expect.any(String), rule: expect.any(String) }] })
        // Not "1 of 1 items were rejected; the others were accepted": there were no others.
        expect(bad.body.error).toBe("the item was rejected; nothing was accepted")
        expect(yield* query("SELECT count() AS n FROM dead_letters WHERE source = 'sendgrid'")).toEqual([{ n: "1" }])
      })))

  it("refuse a ?write_key= that is not a key of the request's tenant (another tenant's beside Basic auth, or two that disagree)", () =>
    withCollector(dir, (url) =>
      Effect.gen(function* () {
        const social = (id: string) => JSON.stringify({ id, network: "reddit", author_handle: "hiker", text: "Love it", created_at: "2024-10-01T10:00:00Z" })
        const acme = { authorization: basicAuth(WRITE_KEY), "content-type": "application/json" }
        const beside = yield* hook(url, "social", social("w1"), acme, `?write_key=${OTHER_TENANT_KEY}`)
        expect(beside).toMatchObject({ status: 400, body: { success: false, rule: "foreign_write_key", field: "write_key" } })
        const twice = yield* hook(url, "social", social("w2"), { "content-type": "application/json" }, `?write_key=${OTHER_TENANT_KEY}&write_key=${WRITE_KEY}`)
        expect(twice).toMatchObject({ status: 400, body: { success: false, rule: "foreign_write_key", field: "write_key" } })
        // Unknown and foreign keys get the same answer (no oracle for guessing keys).
        expect((yield* hook(url, "social", social("w3"), acme, "?write_key=wk_nobody")).body).toEqual(beside.body)
        expect(yield* query("SELECT count() AS n FROM events")).toEqual([{ n: "0" }])
        expect(yield* query("SELECT count() AS n FROM dead_letters")).toEqual([{ n: "0" }])
        // The request's own key named twice is fine.
        expect((yield* hook(url, "social", social("w4"), acme, `?write_key=${WRITE_KEY}`)).status).toBe(200)
      })))
})

describe("signed SendGrid webhook", () => {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" })
  const verificationKey = publicKey.export({ format: "der", type: "spki" }).toString("base64")
  const signed = (body: string, timestamp: string) =>
    sign("sha256", Buffer.from(timestamp + body), privateKey).toString("base64")

  const withSignedCollector = <A, E>(program: (url: string) => Effect.Effect<A, E, Collector>) => {
    const layer = Collector.layer({
      port: 0, host: "127.0.0.1", writeKeys: writeKeys([{ writeKey: WRITE_KEY, tenant: "acme" }]), sendgridVerificationKey: verificationKey,
    }).pipe(Layer.provideMerge(pipelineLayer(backendConfig(dir))))
    return Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      return yield* program((yield* Collector).url)
    })).pipe(Effect.provide(layer)))
  }

  it("accepts a correctly signed post and refuses unsigned, tampered and stale ones", () =>
    withSignedCollector((url) =>
      Effect.gen(function* () {
        const body = JSON.stringify([{ email: "a@example.com", timestamp: 1726920683, event: "delivered", sg_event_id: "sig-1", sg_message_id: "m" }])
        const now = String(Math.floor(Date.now() / 1000))
        const headers = (sig: string, ts: string) => ({
          authorization: basicAuth(WRITE_KEY), "x-twilio-email-event-webhook-signature": sig, "x-twilio-email-event-webhook-timestamp": ts,
        })
        expect((yield* post(`${url}/v1/webhooks/sendgrid`, body, headers(signed(body, now), now))).status).toBe(200)
        expect((yield* post(`${url}/v1/webhooks/sendgrid`, body)).body).toMatchObject({ rule: "missing_signature" })
        expect((yield* post(`${url}/v1/webhooks/sendgrid`, body.replace("delivered", "open"), headers(signed(body, now), now))).body).toMatchObject({ rule: "bad_signature" })
        const old = String(Math.floor(Date.now() / 1000) - 3600)
        expect((yield* post(`${url}/v1/webhooks/sendgrid`, body, headers(signed(body, old), old))).body).toMatchObject({ rule: "stale_signature" })
      })))
})
