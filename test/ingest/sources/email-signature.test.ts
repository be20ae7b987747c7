import { describe, expect, it } from "vitest"
import { signatureIdentifiers, signatureLines } from "../../../ingest/sources/email-signature.ts"

describe("mail signatures", () => {
  it("phones and handles under a sign-off or a -- line are the sender's, marked unverified", () => {
    const mail = "Hi,\nThe parcel never came.\n\nThanks in advance,\nJosé\nM: 0131 496 0164\nTwitter: @josé_a or @jose_a\n"
    expect(signatureIdentifiers(mail)).toEqual([
      { kind: "phone", value: "0131 496 0164", trust: "unverified" },
      { kind: "twitter_handle", value: "jose_a", trust: "unverified" },
    ])
    expect(signatureIdentifiers("Hello\n-- \nAna Ruiz\nhttps://x.com/anaruiz\n+1 (415) 555-0134")).toEqual([
      { kind: "twitter_handle", value: "anaruiz", trust: "unverified" },
      { kind: "phone", value: "+1 (415) 555-0134", trust: "unverified" },
    ])
  })

  it("numbers in the message itself or in a quoted reply are not the sender's", () => {
    expect(signatureIdentifiers("My order 1234567890 is late, call 0131 496 0164 if needed.")).toEqual([])
    expect(signatureIdentifiers("Thanks,\nAna\n\nOn Mon, 2 Sep 2024 at 10:00, Support wrote:\n> Best,\n> Riley\n> +44 20 7946 0000")).toEqual([])
    expect(signatureLines("Regards,\nAna\n" + "a line\n".repeat(10))).toEqual([])
  })

  it("an address in the signature is not a handle", () => {
    expect(signatureIdentifiers("Best,\nAna\nana@mail.example")).toEqual([])
  })
})
