// The profiles erased since a read began (warehouse/erasure.ts), as work that read before an erasure and writes after
// it asks: only its tenant's, only those after its mark, and "cannot tell" once more erasures ran than are kept.
import { Deferred, Effect, Exit, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import { aloneForErasure, erasedSince, erasureMark, noteErasedProfiles, readBesideErasures } from "../../warehouse/erasure.ts"

describe("erasedSince", () => {
  it("names the tenant's profiles erased after the mark, not before it nor another tenant's", () => {
    noteErasedProfiles("t-before", ["p0"])
    const mark = erasureMark()
    noteErasedProfiles("t-a", ["p1", "p2"])
    noteErasedProfiles("t-b", ["p3"])
    noteErasedProfiles("t-a", ["p4"])
    expect([...erasedSince("t-a", mark)!].sort()).toEqual(["p1", "p2", "p4"])
    expect([...erasedSince("t-b", mark)!]).toEqual(["p3"])
    expect([...erasedSince("t-before", mark)!]).toEqual([])
    expect([...erasedSince("t-none", mark)!]).toEqual([])
  })

  it("cannot tell once more of the tenant's erasures ran since the mark than are kept; other tenants' do not count", () => {
    const mark = erasureMark()
    for (let i = 0; i < 300; i++) noteErasedProfiles("t-other", [`o${i}`])
    noteErasedProfiles("t-busy", ["first"])
    expect(erasedSince("t-busy", mark)).toEqual(new Set(["first"]))
    for (let i = 0; i < 256; i++) noteErasedProfiles("t-busy", [`b${i}`])
    expect(erasedSince("t-busy", mark)).toBeUndefined()
    // A read that began after the dropped one is answered again.
    const later = erasureMark()
    noteErasedProfiles("t-busy", ["last"])
    expect(erasedSince("t-busy", later)).toEqual(new Set(["last"]))
  })

  it("readBesideErasures: a write waits for the tenant's erasure, gets the profiles it removed, and fails when it cannot tell", async () => {
    const reading = readBesideErasures("t-guard")
    const erasing = await Effect.runPromise(Effect.gen(function* () {
      const release = yield* Deferred.make<void>()
      const erasure = yield* Effect.forkChild(aloneForErasure("t-guard")(Effect.gen(function* () {
        noteErasedProfiles("t-guard", ["gone"])
        yield* Deferred.await(release)
      })))
      yield* Effect.yieldNow
      const write = yield* Effect.forkChild(reading.beside((erased) => Effect.succeed([...erased])))
      yield* Effect.yieldNow
      const whileHeld = write.pollUnsafe()
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(erasure)
      return { whileHeld, written: yield* Fiber.join(write) }
    }))
    expect(erasing.whileHeld).toBeUndefined()
    expect(erasing.written).toEqual(["gone"])

    for (let i = 0; i < 257; i++) noteErasedProfiles("t-guard", [`g${i}`])
    const exit = await Effect.runPromiseExit(reading.beside(() => Effect.succeed("stored")))
    expect(Exit.isFailure(exit) && String(exit.cause)).toContain('more erasures of tenant "t-guard" ran since its rows were read')
    expect(await Effect.runPromiseExit(reading.erased)).toMatchObject({ _tag: "Failure" })
  })
})
