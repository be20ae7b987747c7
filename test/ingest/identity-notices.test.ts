// What a pipeline member on a shared bus (Kafka) does for another process's identity notices. Every notice made every
// member load every tenant's graph again under its identity stage's one lock (every tenant's landing waited): an
// operator's decision about one tenant, and an erasure, which also left the person in the other members' graphs until
// that load. Now a tenant's notice reloads that tenant alone (beside the batches), an erasure's forget notice (keyed hashes of
// the profile ids) makes them forget the person's profiles first, and only a notice for every tenant ("*", a rebuild) reloads everything.
import { describe, expect, it } from "vitest"
import { identityReactions } from "../../ingest/pipeline.ts"

describe("a member's reactions to identity notices", () => {
  it("reloads a tenant alone for its notice, forgets before reloading for an erasure, and everything only for '*'", () => {
    expect(identityReactions([{ tenant: "acme", origin: "other" }], "me")).toEqual([{ kind: "tenant", tenant: "acme" }])
    expect(identityReactions([
      { tenant: "acme", origin: "other", forgetProfileKeys: ["h_a"] },
      { tenant: "acme", origin: "other" },
    ], "me")).toEqual([{ kind: "forget", tenant: "acme", profileKeys: ["h_a"] }, { kind: "tenant", tenant: "acme" }])
    expect(identityReactions([{ tenant: "*", origin: "other" }], "me")).toEqual([{ kind: "everyTenant" }])
  })

  it("ignores its own notices and the erasure's shredded keys (the bus's codec drops those), and reloads a tenant once a batch", () => {
    expect(identityReactions([{ tenant: "acme", origin: "me" }, { tenant: "acme", origin: "erasure:dsr_1", shreddedKeys: ["k"] }], "me")).toEqual([])
    expect(identityReactions([
      { tenant: "acme", origin: "a" }, { tenant: "globex", origin: "b" }, { tenant: "acme", origin: "c", forgetProfileKeys: ["h_x"] }, { tenant: "acme", origin: "c" },
    ], "me")).toEqual([
      { kind: "tenant", tenant: "globex" }, { kind: "forget", tenant: "acme", profileKeys: ["h_x"] }, { kind: "tenant", tenant: "acme" },
    ])
  })
})
