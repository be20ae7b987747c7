import { createHmac } from "node:crypto"
import { describe, expect, it } from "vitest"
import { identifierKey, makeKeys } from "../../consent/keys.ts"

// Hashes and signatures are stored (suppression list, receipts, the audit log, the ledger's devices): however the
// keys are held in memory, a hash must stay the same HMAC-SHA256 under the same derived key, or stored rows stop matching.
describe("keyed hash", () => {
  const secret = new Uint8Array(32).map((_, i) => i * 7 + 1)
  const derived = (label: string) => createHmac("sha256", secret).update(label).digest()
  const hmac = (key: Buffer, text: string) => createHmac("sha256", key).update(text, "utf8").digest("hex")

  it("is HMAC-SHA256 of the text under the key derived for hashing, the same on every call", () => {
    const keys = makeKeys(secret)
    for (const text of ["", "default\u0000anonymous_id:a1b2", "ünïcödé ✓", "x".repeat(10_000)]) {
      expect(keys.hash(text)).toBe(hmac(derived("cdp keyed hash v1"), text))
      expect(keys.hash(text)).toBe(keys.hash(text))
    }
    expect(identifierKey(keys, "t1", "email", "a@b.c")).toBe(hmac(derived("cdp keyed hash v1"), "t1\u0000email:a@b.c"))
  })

  it("signs under another derived key, so a signature is never a hash", () => {
    const keys = makeKeys(secret)
    expect(keys.sign("receipt")).toBe(hmac(derived("cdp signature v1"), "receipt"))
    expect(keys.sign("receipt")).not.toBe(keys.hash("receipt"))
  })
})
