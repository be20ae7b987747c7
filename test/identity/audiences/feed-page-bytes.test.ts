// An audience's members and its changes feed end a page before about 1 MB of JSON, whatever ?limit= (up to 10,000)
// says, as the lists of audiences and versions do: a member keeps why it entered and a change its cause, every condition
// that matched with the value seen (each cut at 200 characters), so a page of 10,000 members of a 192-leaf audience
// could answer about 500 MB. Following the cursors still gives each member and change once.
import { Effect } from "effect"
import { afterAll, beforeAll, expect, it } from "vitest"
import type { CanonicalEvent } from "../../../ingest/message.ts"
import { createAudience, refreshAudiences } from "../../../identity/audiences/index.ts"
import { checkResponse } from "../../support/openapi.ts"
import { freshDir, removeDir } from "../../support/pipeline.ts"
import { ALL, prefs, submit, web, withConsent } from "../../consent/support.ts"
import { AS_OF, serveAudiences } from "./support.ts"

let dir: string
beforeAll(() => { dir = freshDir() })
afterAll(() => removeDir(dir))

const PEOPLE = 25
const TRAITS = 192
const get = (base: string, template: string, path: string) =>
  Effect.promise(async () => {
    const res = await fetch(`${base}${path}`)
    const answer = (await res.json()) as Record<string, any>
    checkResponse(template, "GET", res.status, answer)
    return { status: res.status, body: answer, bytes: JSON.stringify(answer).length }
  })

it("members and changes come a page of at most about 1 MB at a time, each once", () =>
  withConsent(dir, Effect.gen(function* () {
    const traits = Object.fromEntries(Array.from({ length: TRAITS }, (_, i) => [`t${i}`, `${i}:${"v".repeat(250)}`]))
    const people: Array<CanonicalEvent> = Array.from({ length: PEOPLE }, (_, k) =>
      web(`p${k}`, new Date(AS_OF - 86_400_000).toISOString(), { userId: `u${k}`, type: "identify", event: "", traits, context: prefs(ALL(true)) }))
    yield* submit(people)
    const or = (from: number) => ({ or: Array.from({ length: 48 }, (_, i) => ({ trait: `t${from + i}`, exists: true })) })
    const { id } = yield* createAudience("acme", { name: "Every trait", purpose: "Analytics", condition: { and: [or(0), or(48), or(96), or(144)] } }, "test")
    yield* refreshAudiences({ tenant: "acme", asOfMs: AS_OF })
    const base = yield* serveAudiences({ tokenId: "admin-token", tenant: undefined })

    const members: Array<string> = []
    const memberPages: Array<number> = []
    let after: string | null = ""
    while (after !== null) {
      const page: { body: Record<string, any>; bytes: number } = yield* get(base, "/v1/audiences/{id}/members", `/v1/audiences/${id}/members?tenant=acme&limit=10000&after=${after}`)
      members.push(...page.body["members"].map((m: { profileId: string }) => m.profileId))
      memberPages.push(page.bytes)
      after = page.body["next"]
    }
    expect(new Set(members).size).toBe(PEOPLE)
    expect(members).toHaveLength(PEOPLE)
    expect(memberPages.length).toBeGreaterThan(1)
    for (const size of memberPages) expect(size).toBeLessThan(1.1 * 1024 * 1024)

    const seqs: Array<string> = []
    const changePages: Array<number> = []
    let cursor = ""
    for (;;) {
      const page: { body: Record<string, any>; bytes: number } = yield* get(base, "/v1/audiences/{id}/changes", `/v1/audiences/${id}/changes?tenant=acme&limit=10000&cursor=${cursor}`)
      if (page.body["changes"].length === 0) break
      seqs.push(...page.body["changes"].map((c: { seq: string }) => c.seq))
      changePages.push(page.bytes)
      cursor = page.body["cursor"]
    }
    expect(new Set(seqs).size).toBe(PEOPLE)
    expect(seqs).toHaveLength(PEOPLE)
    expect(changePages.length).toBeGreaterThan(1)
    for (const size of changePages) expect(size).toBeLessThan(1.1 * 1024 * 1024)
  })), 180_000)
