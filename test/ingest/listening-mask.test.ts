// What a marketer's listening report masks (ingest/listening-route.ts): e-mail addresses and phone numbers in authors
// and topic phrases; public handles, names and ordinary numbers stay.
import { describe, expect, it } from "vitest"
import { maskListenReport } from "../../ingest/listening-route.ts"
import type { ListenReport } from "../../sentiment/index.ts"
import { cpuMs } from "../support/event-loop.ts"

const author = (handle: string, name?: string) => ({ handle, ...(name === undefined ? {} : { name }), followers: 1, mentions: 1, engagement: 0 })
const topic = (phrase: string, related: Array<string> = []) => ({ phrase, score: 1, mentions: 2, previousMentions: 0, related })

const report = {
  tenant: "acme",
  topAuthors: {
    byReach: [author("@kim", "Kim kim.lee@home.example"), author("forum:lee", "Lee +44 (0)7700 900123"), author("@ann", "Ann 2nd account")],
    byEngagement: [author("@mail@x.example")],
  },
  topics: { since: "", until: "", previousSince: "", phrases: [topic("call 07700900123", ["write ann@x.example"]), topic("2 bags"), topic("open 24 7")] },
} as unknown as ListenReport

describe("a marketer's listening report", () => {
  it("masks e-mail addresses and phone numbers in authors and topics, and keeps handles, names and short numbers", () => {
    const masked = maskListenReport(report)
    expect(masked.topAuthors.byReach.map((a) => [a.handle, a.name])).toEqual([
      ["@kim", "Kim [masked]"], ["forum:lee", "Lee [masked]"], ["@ann", "Ann 2nd account"],
    ])
    expect(masked.topAuthors.byEngagement[0]!.handle).toBe("@[masked]")
    expect(masked.topics.phrases.map((t) => [t.phrase, t.related])).toEqual([["call [masked]", ["write [masked]"]], ["2 bags", []], ["open 24 7", []]])
    expect(masked.masked).toEqual({ kinds: ["email", "phone"] })
    expect(JSON.stringify(masked)).not.toMatch(/home\.example|900123|x\.example/)
    // The report itself is left as it was (an admin's copy).
    expect(report.topAuthors.byReach[0]!.name).toBe("Kim kim.lee@home.example")
  })

  it("masks a 200,000-character author name or phrase in time linear in its length (a whole-text expression took minutes)", () => {
    const long = "a".repeat(200_000)
    const hostile = {
      ...report,
      topAuthors: { byReach: [author("@h", long), author("@i", `${long}@x.example ${long}`)], byEngagement: [author(`@${long}@${long}`)] },
      topics: { ...report.topics, phrases: [topic(long, [`${"1 ".repeat(100_000)}x`])] },
    } as unknown as ListenReport
    // CPU time, not wall time: the same work waits longer for a core on a loaded machine.
    const started = cpuMs()
    const masked = maskListenReport(hostile)
    const took = cpuMs() - started
    expect(masked.topAuthors.byReach.map((a) => a.name)).toEqual([long, `[masked] ${long}`])
    expect(masked.topAuthors.byEngagement[0]!.handle).toBe(`@${long}@${long}`)
    expect(masked.topics.phrases[0]!.phrase).toBe(long)
    expect(masked.topics.phrases[0]!.related).toEqual(["[masked] x"])
    expect(took, `${Math.round(took)} ms of CPU`).toBeLessThan(1000)
  })
})
