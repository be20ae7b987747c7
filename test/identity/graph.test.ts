import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { CORROBORATED, type Observation, resolveGraph, type Sighting } from "../../identity/graph.ts"

const DAY = 86_400_000
const s = (kind: Sighting["kind"], value: string, trust: Sighting["trust"] = "verified"): Sighting => ({ kind, value, trust })
const o = (messageId: string, day: number, ...sightings: Array<Sighting>): Observation => ({ messageId, timeMs: day * DAY, sightings })

/** Messages grouped by profile, as sorted lists of message ids (comparable across runs). */
const clustering = (observations: ReadonlyArray<Observation>) => {
  const r = resolveGraph("t", observations)
  const groups = new Map<string, Array<string>>()
  for (const ob of observations) {
    const profile = r.profileOf.get(r.anchorOf.get(ob.messageId)!)!
    groups.set(profile, [...(groups.get(profile) ?? []), ob.messageId])
  }
  return [...groups.values()].map((g) => g.sort().join(",")).sort()
}
const profileOfMessage = (observations: ReadonlyArray<Observation>, messageId: string) => {
  const r = resolveGraph("t", observations)
  return r.profileOf.get(r.anchorOf.get(messageId)!)
}

describe("identity graph", () => {
  it("joins one person's browser, account, e-mail, calls and tweets into one profile", () => {
    const obs = [
      o("web1", 1, s("anonymous_id", "a1")),
      o("login", 2, s("anonymous_id", "a1"), s("user_id", "u1")),
      o("identify", 2, s("user_id", "u1"), s("email", "ann@x.example", "stated"), s("phone", "+447700900001", "stated")),
      o("mail", 3, s("email", "ann@x.example")),
      o("call", 4, s("phone", "+447700900001")),
    ]
    expect(clustering(obs)).toEqual(["call,identify,login,mail,web1"])
  })

  it("a profile holds one user id: a link that would add a second is refused with its reason", () => {
    const obs = [o("m1", 1, s("user_id", "u1")), o("m2", 2, s("user_id", "u2")), o("alias", 3, s("user_id", "u1"), s("user_id", "u2"))]
    const r = resolveGraph("t", obs)
    expect(clustering(obs)).toEqual(["alias,m1", "m2"])
    expect(r.refused).toEqual([expect.objectContaining({ messageId: "alias", reason: "the profile would hold 2 user_id values (limit 1)" })])
  })

  it("a value seen with several people at once stops linking, and its own messages join no person", () => {
    const obs = [
      o("u1", 1, s("user_id", "u1"), s("phone", "+442079460000", "stated")),
      o("u2", 1, s("user_id", "u2"), s("phone", "+442079460000", "stated")),
      o("u3", 1, s("user_id", "u3"), s("phone", "+442079460000", "stated")),
      o("u1b", 9, s("user_id", "u1"), s("phone", "+442079460000", "stated")),
      o("call", 5, s("phone", "+442079460000")),
    ]
    const r = resolveGraph("t", obs)
    expect(r.shared.get("phone:+442079460000")).toMatch(/shared by several people/)
    expect(clustering(obs)).toEqual(["call", "u1,u1b", "u2", "u3"])
  })

  it("a value that changed owner is cut in time: each owner keeps what happened in their time", () => {
    const obs = [
      o("old-owner", 1, s("user_id", "u1"), s("phone", "+447700900002", "stated")),
      o("old-call", 2, s("phone", "+447700900002")),
      o("old-owner-again", 10, s("user_id", "u1"), s("phone", "+447700900002", "stated")),
      o("new-owner", 60, s("user_id", "u2"), s("phone", "+447700900002", "stated")),
      o("new-call", 61, s("phone", "+447700900002")),
    ]
    expect(clustering(obs)).toEqual(["new-call,new-owner", "old-call,old-owner,old-owner-again"])
  })

  it("an unverified value may bring an anonymous visitor into a profile but never join two known people", () => {
    const known = [o("u1", 1, s("user_id", "u1"), s("anonymous_id", "a1")), o("u2", 1, s("user_id", "u2"), s("email", "b@x.example", "stated"))]
    const chat = o("chat", 2, s("anonymous_id", "a1"), s("email", "b@x.example", "unverified"))
    expect(clustering([...known, chat])).toEqual(["chat,u1", "u2"])
    const visitor = [o("visit", 1, s("anonymous_id", "a9")), o("chat2", 2, s("anonymous_id", "a9"), s("email", "b@x.example", "unverified"))]
    expect(clustering([...known, ...visitor])).toEqual(["chat2,u2,visit", "u1"])
  })

  // A mail from a second mailbox, signed with the phone the customer gave in their account: the signature is typed
  // (unverified), but the account holds that phone on the customer's own word.
  const account = [
    o("identify", 1, s("user_id", "u1"), s("email", "ann@x.example", "stated"), s("phone", "+447700900001", "stated")),
    o("web", 2, s("user_id", "u1"), s("anonymous_id", "a1")),
  ]
  const signed = (id: string, day: number, from: string, phone = "+447700900001") => o(id, day, s("email", from), s("phone", phone, "unverified"))

  it("a phone signed under a second mailbox's mail joins it to the account that stated that phone", () => {
    const obs = [...account, o("newsletter", 3, s("email", "ann.home@y.example")), signed("mail", 4, "ann.home@y.example")]
    const r = resolveGraph("t", obs)
    expect(clustering(obs)).toEqual(["identify,mail,newsletter,web"])
    expect(r.refused).toEqual([])
    // Its provenance says why a typed value could join (cdp identity explain shows the rule).
    expect(r.links.find((l) => l.messageId === "mail")?.rule).toBe(CORROBORATED)
    expect(r.links.find((l) => l.messageId === "identify")?.rule).toBe("same message")
    // The same holds whatever the order the messages arrive in.
    expect(clustering([...obs].reverse())).toEqual(["identify,mail,newsletter,web"])
  })

  it("an X handle signed under a mail joins the mailbox to the account whose twitter trait states it", () => {
    const obs = [
      o("identify", 1, s("user_id", "u1"), s("twitter_handle", "ann_walks", "stated")),
      o("tweet", 2, s("twitter_id", "42"), s("twitter_handle", "ann_walks")),
      o("mail", 3, s("email", "ann@y.example"), s("twitter_handle", "ann_walks", "unverified")),
    ]
    expect(clustering(obs)).toEqual(["identify,mail,tweet"])
  })

  it("a signed phone that several mailboxes state (an office number) joins none of them to the account", () => {
    const obs = [...account, signed("mail1", 3, "bob@office.example"), signed("mail2", 4, "cy@office.example")]
    const r = resolveGraph("t", obs)
    expect(clustering(obs)).toEqual(["identify,web", "mail1", "mail2"])
    expect(r.refused.map((l) => l.reason)).toEqual(["an unverified value may not join two known people", "an unverified value may not join two known people"])
  })

  it("a signed phone no account or caller id vouches for joins no two known people", () => {
    const obs = [
      o("other", 1, s("user_id", "u1"), s("email", "ann@x.example", "stated")),
      o("chat", 2, s("anonymous_id", "a1"), s("phone", "+447700900009", "unverified"), s("user_id", "u1")),
      signed("mail", 3, "bob@y.example", "+447700900009"),
    ]
    expect(clustering(obs)).toEqual(["chat,other", "mail"])
  })

  it("a value typed into a form still never joins two known people, even one an account stated (e-mail)", () => {
    const obs = [
      o("u2", 1, s("user_id", "u2"), s("email", "b@x.example", "stated")),
      o("u1", 1, s("user_id", "u1"), s("anonymous_id", "a1")),
      o("chat", 2, s("anonymous_id", "a1"), s("email", "b@x.example", "unverified")),
      o("mail", 3, s("email", "c@y.example"), s("email", "b@x.example", "unverified")),
    ]
    expect(clustering(obs)).toEqual(["chat,u1", "mail", "u2"])
  })

  it("a merge keeps the oldest profile id", () => {
    const before = [o("mail", 1, s("email", "e@x.example")), o("web", 5, s("user_id", "u1"))]
    const mailProfile = profileOfMessage(before, "mail")
    const after = [...before, o("identify", 6, s("user_id", "u1"), s("email", "e@x.example", "stated"))]
    expect(profileOfMessage(after, "web")).toBe(mailProfile)
  })

  it("the clustering does not depend on arrival order (property)", () => {
    const kinds = ["user_id", "email", "phone", "anonymous_id"] as const
    const sighting = fc.record({
      kind: fc.constantFrom(...kinds),
      value: fc.constantFrom("1", "2", "3", "4", "5", "6"),
      trust: fc.constantFrom("verified", "stated", "unverified"),
    }) as fc.Arbitrary<Sighting>
    const observations = fc.uniqueArray(
      fc.record({ messageId: fc.string({ minLength: 1, maxLength: 6 }), timeMs: fc.integer({ min: 0, max: 20 }), sightings: fc.array(sighting, { minLength: 1, maxLength: 3 }) }),
      { selector: (x) => x.messageId, maxLength: 40 },
    )
    fc.assert(fc.property(observations, fc.infiniteStream(fc.integer()), (obs, seeds) => {
      const shuffled = [...obs]
      const it = seeds[Symbol.iterator]()
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = Math.abs(it.next().value as number) % (i + 1)
        ;[shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!]
      }
      const a = resolveGraph("t", obs)
      const b = resolveGraph("t", shuffled)
      for (const ob of obs) expect(b.profileOf.get(b.anchorOf.get(ob.messageId)!)).toBe(a.profileOf.get(a.anchorOf.get(ob.messageId)!))
    }), { numRuns: 300 })
  })
})
