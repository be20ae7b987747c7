// Test support for audiences: a small tenant with traits, orders, channels, texts and consent, landed through the
// real pipeline (identity, consent, sentiment), and a program's run against it.
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect } from "effect"
import { type AudienceCaller, audienceRoute } from "../../../ingest/audience-route.ts"
import type { CanonicalEvent } from "../../../ingest/message.ts"
import { Warehouse } from "../../../warehouse/warehouse.ts"
import { query } from "../../support/pipeline.ts"
import { ALL, prefs, submit, web } from "../../consent/support.ts"

/** Evaluations are as of this instant (windows end here). */
export const AS_OF = Date.UTC(2024, 9, 31, 12)
const daysBefore = (d: number) => new Date(AS_OF - d * 86_400_000).toISOString()

const track = (id: string, userId: string, daysAgo: number, fields: Partial<CanonicalEvent> = {}) =>
  web(id, daysBefore(daysAgo), { userId, ...fields })

/** ann: pro, 34, VIP, three recent orders, e-mail and chat, happy, Analytics granted. bob: free, "22", one old order, unhappy. cat: pro, no orders, Advertising denied. */
export const PEOPLE: ReadonlyArray<CanonicalEvent> = [
  track("ann-id", "ann", 20, { type: "identify", event: "", traits: { plan: "pro", age: 34, vip: true, city: "Leeds" }, context: prefs(ALL(true)) }),
  track("ann-o1", "ann", 1, { event: "Order Completed" }),
  track("ann-o2", "ann", 3, { event: "Order Completed" }),
  track("ann-o3", "ann", 9, { event: "Order Completed" }),
  track("ann-mail", "ann", 2, { event: "Email Opened", channel: "email", source: "sendgrid" }),
  track("ann-chat", "ann", 4, { event: "Chat Message", channel: "chat", source: "chat", text: "I love it, the service was excellent and fast" }),
  track("bob-id", "bob", 30, { type: "identify", event: "", traits: { plan: "free", age: "22", city: "York" } }),
  track("bob-o1", "bob", 40, { event: "Order Completed" }),
  track("bob-chat", "bob", 5, { event: "Chat Message", channel: "chat", source: "chat", text: "terrible, awful experience, I hate it" }),
  track("cat-id", "cat", 10, { type: "identify", event: "", traits: { plan: "pro", "we'ird\"; DROP TABLE events --": "x" }, context: prefs({ Advertising: false }) }),
]

export const landPeople = submit(PEOPLE)

/** The current profile of a user id. */
export const profileOfUser = (userId: string) =>
  Effect.map(query<{ profile_id: string }>("SELECT any(profile_id) AS profile_id FROM events WHERE tenant = 'acme' AND user_id = {u:String}", { u: userId }),
    (r) => r[0]!.profile_id)

/** Map of profile id -> user id for ann, bob, cat. */
export const names = Effect.gen(function* () {
  const out = new Map<string, string>()
  for (const u of ["ann", "bob", "cat"]) out.set(yield* profileOfUser(u), u)
  return out
})

/**
 * The audience routes alone on a local HTTP server for the scope, as `caller` (the token the guard would pass): its
 * base URL. `maxAudiences` is CDP_MAX_AUDIENCES.
 */
export const serveAudiences = (caller: AudienceCaller, maxAudiences?: number) =>
  Effect.gen(function* () {
    const warehouse = yield* Warehouse
    const handle = audienceRoute({ warehouse, maxAudiences })
    const server = yield* Effect.acquireRelease(
      Effect.promise(() => new Promise<Server>((resolve) => {
        const s = createServer((req, res) => {
          void Effect.runPromise(handle(req, caller)).then((reply) => {
            res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers })
            res.end(JSON.stringify(reply.body))
          })
        })
        s.listen(0, "127.0.0.1", () => resolve(s))
      })),
      (s) => Effect.promise(() => new Promise<void>((resolve) => s.close(() => resolve()))),
    )
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
