import { describe, expect, it } from "vitest"
import { DEFAULT_NORMALISE_OPTIONS, normaliseIdentifier } from "../../identity/normalise.ts"

const value = (kind: Parameters<typeof normaliseIdentifier>[0], raw: string, options = DEFAULT_NORMALISE_OPTIONS) => {
  const n = normaliseIdentifier(kind, raw, options)
  return n.ok ? n.value : `refused: ${n.reason}`
}

describe("identifier normalisation", () => {
  it("e-mail: trimmed, case-folded, display names and mailto: removed, IDNA domains in ASCII form", () => {
    expect(value("email", "  Owen.Muller@Mail.EXAMPLE ")).toBe("owen.muller@mail.example")
    expect(value("email", "Owen Müller <owen@mail.example>")).toBe("owen@mail.example")
    expect(value("email", "mailto:ana@example.com")).toBe("ana@example.com")
    expect(value("email", "jörg@Bücher.example")).toBe("jörg@xn--bcher-kva.example")
  })

  it("e-mail: Gmail's dots, +tags and googlemail.com are one mailbox; other domains keep their dots", () => {
    expect(value("email", "J.Doe+shop@googlemail.com")).toBe("jdoe@gmail.com")
    expect(value("email", "jdoe@gmail.com")).toBe("jdoe@gmail.com")
    expect(value("email", "j.doe+x@outlook.com")).toBe("j.doe@outlook.com")
    expect(value("email", "j.doe+x@example.com")).toBe("j.doe+x@example.com")
    expect(value("email", "J.Doe@gmail.com", { mailboxRules: {} })).toBe("j.doe@gmail.com")
  })

  it("e-mail: what is not an address is refused with the reason", () => {
    expect(value("email", "not an address")).toMatch(/^refused: .*@/)
    expect(value("email", "a@b")).toMatch(/^refused: the domain/)
    expect(value("email", "+tag@gmail.com")).toMatch(/^refused/)
  })

  it("a control character (NUL, a bell, DEL, a C1 control) in an e-mail's local part or a social handle is refused, as in an id", () => {
    for (const raw of ["a\u0000b@mail.example", "a\u0007b@mail.example", "a\u007fb@mail.example", "ann\u0000@mail.example", "ann\u0085@mail.example", "a\u009bb@mail.example"]) {
      expect(value("email", raw), JSON.stringify(raw)).toBe("refused: the part before @ holds characters an address cannot have")
    }
    for (const raw of ["instagram:a\u0000b", "instagram:a\u001bb", "instagram:a\u0085"]) {
      expect(value("social_handle", raw), JSON.stringify(raw)).toBe("refused: a handle may not hold control characters")
    }
    // A visitor or user id with a C1 control (U+0085, next line) would be an identity of its own beside the clean id.
    for (const raw of ["u1\u0085", "cookie\u0090x"]) {
      expect(value("anonymous_id", raw), JSON.stringify(raw)).toBe("refused: an id may not hold control characters")
    }
    expect(value("email", "ännä@mail.example")).toBe("ännä@mail.example")
  })

  it("e-mail: a domain holding what a URL parser would cut or decode is refused, never read as another address", () => {
    // domainToASCII reads its input as a URL's host: it stops at / ? # \, decodes %2e and drops tabs and newlines.
    for (const raw of ["ann@mail.example/extra", "ann@mail.example?x=1", "ann@mail.example#x", "ann@mail.example\\x",
      "ann@mail%2eexample", "ann@mail.exa\tmple", "ann@mail.exa\nmple", "ann@mail.example/../evil.example"]) {
      expect(value("email", raw), JSON.stringify(raw)).toBe("refused: the domain is not a valid host name")
    }
    expect(value("email", "ann@mail.example")).toBe("ann@mail.example")
  })

  it("phone: every format to E.164, national numbers with the configured region only", () => {
    expect(value("phone", "+44 7700 900927")).toBe("+447700900927")
    const usThenGb = { ...DEFAULT_NORMALISE_OPTIONS, phoneRegions: ["US", "GB"] }
    expect(value("phone", "07700 900927", usThenGb)).toBe("+447700900927")
    expect(value("phone", "(415) 555-0134", usThenGb)).toBe("+14155550134")
    expect(value("phone", "0044 161 4960767", usThenGb)).toBe("+441614960767")
    expect(value("phone", "07700 900927")).toMatch(/^refused: .*region/)
    expect(value("phone", "call me")).toMatch(/^refused/)
  })

  it("phone: full-width digits (typed with a CJK input method), extensions, a (0) trunk prefix and tel: read as the number", () => {
    const usThenGb = { ...DEFAULT_NORMALISE_OPTIONS, phoneRegions: ["US", "GB"] }
    expect(value("phone", "＋４４ ７７００ ９００９２７")).toBe("+447700900927")
    expect(value("phone", "０７７００ ９００９２７", usThenGb)).toBe("+447700900927")
    expect(value("phone", "+44 (0)20 7946 0958")).toBe("+442079460958")
    expect(value("phone", "(415) 555-0134 ext. 12", usThenGb)).toBe("+14155550134")
    expect(value("phone", "tel:+1-415-555-0134")).toBe("+14155550134")
  })

  it("handles typed in full width are the same handle", () => {
    expect(value("twitter_handle", "＠Ａｎｎ＿Ｅｘａｍｐｌｅ")).toBe("ann_example")
  })

  it("an X handle is also read from its profile address, and a post or an X page is refused", () => {
    for (const raw of ["x.com/Ann_Example", "https://twitter.com/ann_example", "http://www.x.com/ann_example/", "https://mobile.twitter.com/Ann_Example?lang=en", "x.com/@ann_example"]) {
      expect(value("twitter_handle", raw), raw).toBe("ann_example")
    }
    expect(normaliseIdentifier("twitter_handle", "https://x.com/ann_example/status/123")).toMatchObject({ ok: false })
    expect(normaliseIdentifier("twitter_handle", "https://x.com/home")).toMatchObject({ ok: false })
    expect(normaliseIdentifier("twitter_handle", "https://example.com/ann_example")).toMatchObject({ ok: false })
  })

  it("handles lose their @ and case; ids are compared exactly", () => {
    expect(value("twitter_handle", "@LumenFan_1")).toBe("lumenfan_1")
    expect(value("social_handle", "Instagram:@Ana.Ri")).toBe("instagram:ana.ri")
    expect(value("twitter_id", " 1171701849184999407 ")).toBe("1171701849184999407")
    expect(value("twitter_id", "abc")).toMatch(/^refused/)
    expect(value("user_id", " usr_AbC ")).toBe("usr_AbC")
    expect(value("anonymous_id", "   ")).toMatch(/^refused/)
  })
})
