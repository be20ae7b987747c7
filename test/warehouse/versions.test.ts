import { afterEach, describe, expect, it, vi } from "vitest"
import { nextVersion, versionMs, witnessWrittenAt } from "../../warehouse/versions.ts"

afterEach(() => { vi.useRealTimers() })

describe("the version clock", () => {
  it("only grows, within one millisecond and when the clock steps back", () => {
    vi.useFakeTimers({ toFake: ["Date"] })
    vi.setSystemTime(Date.parse("2030-01-01T00:00:00.000Z"))
    const first = nextVersion()
    const second = nextVersion()
    vi.setSystemTime(Date.parse("2029-12-31T23:59:00.000Z"))
    const third = nextVersion()
    expect(second).toBeGreaterThan(first)
    expect(third).toBeGreaterThan(second)
    expect(versionMs(first)).toBe(Date.parse("2030-01-01T00:00:00.000Z"))
  })

  it("comes after every version another writer made up to a time it was seen to write at", () => {
    const ahead = Date.now() + 3_600_000
    // The other writer's last version of that millisecond (a thousand writes in it at most carry this millisecond).
    const theirs = ahead * 1000 + 999
    witnessWrittenAt(ahead)
    const mine = nextVersion()
    expect(mine).toBeGreaterThan(theirs)
    witnessWrittenAt(Number.NaN)
    expect(nextVersion()).toBe(mine + 1)
  })
})
