// The profiles erased since a read began (warehouse/erasure.ts), as work that read before an erasure and writes after
// it asks: only its tenant's, only those after its mark, and "cannot tell" once more erasures ran than are kept.
import { describe, expect, it } from "vitest"
import { erasedSince, erasureMark, noteErasedProfiles } from "../../warehouse/erasure.ts"

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
})
