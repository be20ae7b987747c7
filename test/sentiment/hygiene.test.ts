import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { describe, expect, it } from "vitest"
import { cleanText, compileBrand, createScorer, score } from "../../sentiment/index.ts"

describe("quoted replies and signatures", () => {
  it("a Gmail-style quoted reply does not count", () => {
    const email = [
      "Thanks, the replacement arrived and it is perfect.",
      "",
      "On Mon, 3 Jun 2024 at 10:12, Lumen Support <help@lumen.example> wrote:",
      "> We are sorry your jacket arrived torn. This is terrible and we apologise.",
      "> Awful experience, we know.",
    ].join("\n")
    const r = score(email)
    expect(r.label).toBe("positive")
    expect(r.evidence.map((e) => e.token)).not.toContain("terrible")
    expect(r.evidence.map((e) => e.token)).not.toContain("awful")
  })

  it("a Gmail header wrapped over two lines still ends the new text", () => {
    const email = "Love it!\n\nOn Mon, 3 Jun 2024 at 10:12, Lumen Support <help@lumen.example>\nwrote:\n\nhorrible disaster"
    expect(cleanText(email).trim()).toBe("Love it!")
  })

  it("an Outlook reply block does not count", () => {
    const email = [
      "Still waiting for my refund.",
      "________________________________",
      "From: Lumen Outfitters <care@lumen.example>",
      "Sent: Tuesday, June 4, 2024 9:00 AM",
      "Subject: Great news!",
      "Wonderful, happy, excellent.",
    ].join("\r\n")
    expect(score(email).label).toBe("negative")
    expect(cleanText(email)).not.toContain("Wonderful")
  })

  it("an Outlook header without a rule line still ends the new text", () => {
    const email = "Awful service.\nFrom: Lumen <care@lumen.example>\nSent: Tuesday\nTo: me\nGreat, lovely, amazing."
    expect(score(email).label).toBe("negative")
  })

  it("lines quoted with > do not count", () => {
    expect(score("> this is brilliant\nwhat a mess").label).toBe("negative")
    expect(score("> this is brilliant").status).toBe("unscored")
  })

  it("a signature after '-- ' does not count", () => {
    const email = "The boots leak.\n-- \nJane Doe\nHappy hiking! Best wishes, love from the whole team"
    const r = score(email)
    expect(r.label).toBe("negative")
    expect(r.evidence.map((e) => e.token)).not.toContain("happy")
    expect(r.evidence.map((e) => e.token)).not.toContain("love")
    expect(cleanText(email)).toBe("The boots leak.")
  })

  it("a mobile footer does not count", () => {
    expect(cleanText("fine\nSent from my iPhone")).toBe("fine")
  })

  it("text that is only a quoted reply is unscored with a reason", () => {
    const r = score("\n> great stuff\n> thanks")
    expect(r.status).toBe("unscored")
    expect(r.reason).toMatch(/quoted replies/)
  })
})

describe("links, mentions and the brand", () => {
  it("a URL does not count, even when it contains sentiment words", () => {
    expect(score("https://example.com/best-amazing-deals").score).toBe(0)
    expect(score("see www.great-happy.example/love for details").score).toBe(0)
  })

  it("an @mention does not count, even when the handle is a sentiment word", () => {
    expect(score("@happyhiker @awesome_gear ordered the tent").score).toBe(0)
    expect(cleanText("mail me at jane.doe@example.com")).not.toContain("example")
  })

  it("the brand's own name, handle and hashtag do not count", () => {
    const brandScorer = createScorer({ brand: ["Happy Feet", "@happyfeetshoes", "#happyfeetshoes"] })
    for (const text of ["Happy Feet shipped my order", "@happyfeetshoes shipped my order", "#HappyFeetShoes order", "HappyFeet order"]) {
      const r = brandScorer.score(text)
      expect(r.score, text).toBe(0)
    }
    expect(brandScorer.score("Happy Feet shipped my order and I am happy").label).toBe("positive")
    expect(score("Happy Feet shipped my order").label).toBe("positive")
  })

  it("compileBrand matches names case-insensitively with the possessive and across separators", () => {
    const brand = compileBrand(["Lumen Outfitters"])
    expect(cleanText("LUMEN OUTFITTERS's jacket, lumen-outfitters, lumenoutfitters!", brand).replace(/\s+/g, " ").trim())
      .toBe("jacket, , !")
    expect(compileBrand([])).toBeUndefined()
  })

  it("text that is only links and mentions is unscored with a reason", () => {
    const r = score("@lumenoutfitters https://t.co/xyz")
    expect(r.status).toBe("unscored")
    expect(r.reason).toMatch(/links, mentions/)
  })

  it("empty text is unscored with a reason", () => {
    expect(score("   ")).toMatchObject({ status: "unscored", reason: "empty text", score: 0, label: "neutral" })
  })
})

describe("loading natural", () => {
  it("importing the sentiment domain prints nothing to stdout, even with a .env file present", () => {
    const dir = mkdtempSync(join(tmpdir(), "sentiment-quiet-"))
    try {
      writeFileSync(join(dir, ".env"), "CDP_EXAMPLE=1\n")
      const entry = resolve(import.meta.dirname, "../../sentiment/index.ts")
      const stdout = execFileSync(
        process.execPath,
        ["--input-type=module", "-e", `const m = await import(${JSON.stringify(entry)}); m.score("ok")`],
        { cwd: dir, encoding: "utf8", env: { ...process.env, DOTENV_CONFIG_QUIET: "" } },
      )
      expect(stdout).toBe("")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("loading natural", () => {
  it("a .env file in the working directory does not reach the environment", () => {
    const dir = mkdtempSync(join(tmpdir(), "sentiment-dotenv-"))
    try {
      writeFileSync(join(dir, ".env"), "CDP_EXAMPLE=from-dotenv\n")
      const entry = resolve(import.meta.dirname, "../../sentiment/index.ts")
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "CDP_EXAMPLE"))
      const stdout = execFileSync(
        process.execPath,
        ["--input-type=module", "-e", `const m = await import(${JSON.stringify(entry)}); m.score("ok"); m.createSpamFilter(); m.createTermExtractor(); process.stdout.write(String(process.env.CDP_EXAMPLE))`],
        { cwd: dir, encoding: "utf8", env },
      )
      expect(stdout).toBe("undefined")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe("sign-offs", () => {
  it("a sign-off line and the short signature under it do not count", () => {
    const mail = "Good morning,\n\nThe total on my statement is different from the checkout page.\n\nBest,\nTim\n\n-- \nTim Ashworth"
    expect(cleanText(mail)).not.toMatch(/Best|Tim/)
    expect(cleanText(mail)).toContain("different from the checkout page")
  })

  it("a sign-off is found above a signature and the quoted reply under it, however long they are", () => {
    const quoted = Array.from({ length: 12 }, (_, i) => `> line ${i} of what we wrote`).join("\n")
    const mail = `Hi,\n\nThe zip broke after a week. Not impressed.\n\nCheers,\nliam\n\n-- \nliam smith\nMobile: +44 7700 900114\n\n` +
      `On Thu, 12 Sep 2024 06:07, Support <support@shop.example> wrote:\n${quoted}`
    expect(cleanText(mail)).not.toMatch(/Cheers|liam|line 0/)
    expect(cleanText(mail)).toContain("Not impressed.")
    const outlook = `The zip broke.\n\nMany thanks,\nNoah\n\nFrom: Support <support@shop.example>\nSent: Monday\nTo: Noah\n\n${quoted}`
    expect(cleanText(outlook)).not.toMatch(/thanks|Noah/)
  })

  it("a line that only starts like a sign-off, or one followed by more text, is kept", () => {
    expect(cleanText("Best jacket I ever bought.\nLove it")).toContain("Best jacket")
    expect(cleanText("Thanks,\nbut the zip broke after a week and nobody answered my two e-mails.\nThis is the third time.\nI want a refund.\nNow.\nPlease."))
      .toContain("zip broke")
  })
})

describe("salutations", () => {
  it("a greeting that opens a message is a formula, not an opinion", () => {
    for (const mail of ["Dear Sir or Madam,\n\nMy parcel is late.", "Dear Harbour Team,\nMy parcel is late.", "Hello Sam,\n\nMy parcel is late.",
      "Dear support, my parcel is late."]) {
      expect(cleanText(mail), mail).not.toMatch(/Dear|Hello|Sam|Sir|support,/)
      expect(cleanText(mail), mail).toContain("My parcel is late.".slice(3))
    }
  })

  it("the same words elsewhere, or a line that says more than a greeting, are kept", () => {
    expect(cleanText("Oh dear, the parcel is late again.")).toContain("Oh dear")
    expect(cleanText("My dear friend gave me this jacket.")).toContain("dear friend")
    expect(cleanText("Hello to the best support team I know, you fixed it in minutes!")).toContain("best support team")
  })
})

describe("sign-offs that thank in advance", () => {
  it("'Thanks in advance' closing a message is its sign-off", () => {
    const mail = "Hi,\n\nCan I change the delivery address on my order?\n\nThanks in advance,\nGrace\n"
    expect(cleanText(mail)).not.toMatch(/Thanks|Grace/)
    expect(cleanText("Thank you in advance!\nYuki")).not.toMatch(/Thank/)
  })
})

describe("turns that only acknowledge", () => {
  it("a closing 'ok' or hedged thanks does not turn a complaint into praise", () => {
    const chats = [
      "hello\nMy parcel was due a week ago and there is still no trace of it.\nFine. Thanks I guess.",
      "hi\nThe refund has not reached my card after three weeks.\nOk. I hope so.",
      "Hi\nThe strap snapped on the second day.\nok\nyes\nbye",
    ]
    for (const chat of chats) {
      expect(cleanText(chat), chat).not.toMatch(/\b(?:Fine|Thanks|Ok|ok|yes|bye)\b/)
      expect(score(chat).label, chat).not.toBe("positive")
    }
  })

  it("thanks with a word of approval ('Great, thank you.', 'Perfect, thanks!') closes a question politely, and praises nothing", () => {
    const chats = [
      "hey\nWhen will the blue kettle be back in stock?\nPerfect, thank you!",
      "Hi\nCan I pay for my order by bank transfer?\nGreat, thanks.",
      "hello\nIs the oak table shipped flat-packed?\nAwesome thank you so much",
      "hi\nThe kettle leaks from the base.\nCool, thanks for your help.",
    ]
    for (const chat of chats) {
      expect(cleanText(chat), chat).not.toMatch(/Perfect|Great|Awesome|Cool/)
      expect(score(chat).label, chat).not.toBe("positive")
    }
    // Approval without thanks may be praise (or irony): kept; so is approval of something named.
    expect(cleanText("Where is my parcel?\nGreat.")).toContain("Great")
    expect(cleanText("Where is my parcel?\nGreat service, thank you")).toContain("Great service")
    expect(score("hi\nThe new kettle is lovely and boils fast\nPerfect, thank you!").label).toBe("positive")
  })

  it("a turn that says more than an acknowledgement, an emoji, or a text of acknowledgements alone is kept", () => {
    expect(cleanText("Can I change the size?\nThanks, that helps a lot.")).toContain("that helps a lot")
    expect(cleanText("The boots are lovely\nyes 👍")).toContain("👍")
    expect(cleanText("Sure, love it\nsee you")).toContain("love it")
    expect(cleanText("ok\nyes")).toMatch(/ok/)
    expect(score("hi\nI love the new boots, best purchase this year!\nok bye").label).toBe("positive")
  })
})
