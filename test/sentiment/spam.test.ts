import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { createSpamFilter, shippedTraining, type MentionFeatures } from "../../sentiment/index.ts"

const BRAND = ["Fernhill Gear", "@fernhillgear", "#fernhillgear"]

// Held out: written for this test, none of them is in the training set.
const HELD_OUT_SPAM: ReadonlyArray<string> = [
  "Get 2000 followers overnight, real accounts only, DM to order",
  "Cheap likes and followers, packages from $3, fast delivery",
  "Premium replica jackets, indistinguishable from the original, message for prices",
  "@fernhillgear knockoff boots, same factory, a third of the price",
  "RETWEET and FOLLOW to win a $250 gift card!!! Ends tonight 🎁",
  "Free voucher for everyone who follows us, claim now 👉 https://t.co/abc",
  "Exclusive discount codes every day, DM for promo 🔥",
  "Mega clearance, 85% off outdoor brands, limited stock, shop now",
  "I earn $400 a day trading from home, ask me how 💰",
  "Airdrop live now, connect your wallet and claim free tokens",
  "Fernhill Gear style parkas for $12 only at our online shop 🔥 #deal #sale",
  "Congratulations! You were selected to win a brand new phone, tap the link",
  "Boost your brand with our shoutout service to 1 million followers",
  "Authentic-looking Fernhill Gear copies at factory prices, worldwide shipping",
  "Giveaway 🎉 follow, like and tag two friends to win a Fernhill Gear jacket",
]

const HELD_OUT_HAM: ReadonlyArray<string> = [
  "@fernhillgear my parcel has been stuck in customs for a week, any update?",
  "The Fernhill Gear rain shell held up on a wet ridge walk, very happy",
  "Cheap-feeling buckle on an otherwise lovely backpack",
  "Is the spring sale starting online at midnight?",
  "DM sent with my order number, please check",
  "Returned the trousers, refund arrived in three days",
  "Customer service told me to wait another week, not impressed",
  "These gloves are toasty, wore them skiing all weekend",
  "Anyone know if Fernhill Gear ships to New Zealand?",
  "Sizing runs big, I went down one size and it fits perfectly",
  "The app crashes every time I open my basket",
  "Got 15% off with the newsletter code, nice surprise",
  "My partner loves the fleece I got her for Christmas",
  "Why does express delivery cost more than the hat?",
  "The seam on my hiking boots split after a month",
  "Following Fernhill Gear for the trail tips, really useful",
  "Queue out the door at the new Fernhill Gear shop in Bristol",
  "Wore the down jacket at the football, warmest I have been all winter",
  "Would love a repair service for torn jackets",
  "Is the free returns policy still 30 days?",
]

const text = (t: string): MentionFeatures => ({ text: t })

describe("spam rules", () => {
  const filter = createSpamFilter({ brand: BRAND })

  it("a link to a deal or coupon site is spam on its own", () => {
    const v = filter.check({ text: "new jackets in", urls: ["https://coupons.example.org/abc"] })
    expect(v.spam).toBe(true)
    expect(v.reasons).toContain("deal_link")
    expect(filter.check({ text: "new jackets in", urls: ["https://photos.example/p/1"] }).reasons).not.toContain("deal_link")
  })

  it("follower selling, counterfeits and follow-and-retweet bait are spam on their own", () => {
    for (const t of ["we can grow your followers quickly", "replica bags for sale", "follow + RT to enter"]) {
      const v = filter.check(text(t))
      expect(v.reasons, t).toContain("promo_text")
      expect(v.spam, t).toBe(true)
    }
  })

  it("a promotional author bio or handle adds weight but does not condemn an ordinary post alone", () => {
    const m: MentionFeatures = { text: "the jacket arrived today", authorDescription: "Coupons and discount codes for every store" }
    expect(filter.check(m).reasons).toContain("promo_author")
    expect(filter.check(m).spam).toBe(false)
    const both = filter.check({ ...m, handle: "CouponQueen20931", text: "up to 70% off today only" })
    expect(both.reasons).toEqual(expect.arrayContaining(["promo_author", "promo_handle", "bait_text"]))
    expect(both.spam).toBe(true)
  })

  it("hashtag stuffing and a link from an account nobody follows or engages with count as signals", () => {
    expect(filter.check({ text: "new in", hashtags: 7 }).reasons).toContain("tag_stuffing")
    const bot = filter.check({ text: "look", urls: ["https://x.example/1"], followers: 3, engagement: 0 })
    expect(bot.reasons).toContain("low_reach_link")
    expect(filter.check({ text: "look", urls: ["https://x.example/1"], followers: 3000, engagement: 0 }).reasons)
      .not.toContain("low_reach_link")
  })

  it("complaints that mention prices, DMs or sales are not spam", () => {
    for (const t of ["@fernhillgear DM me back please, you charged me twice", "the zip feels cheap", "is the sale on?"]) {
      expect(filter.check(text(t)).spam, t).toBe(false)
    }
  })
})

describe("spam classifier (natural's naive Bayes, trained on the shipped set)", () => {
  const filter = createSpamFilter({ brand: BRAND })

  it("ranks held-out spam above held-out customer posts by text alone", () => {
    const spam = HELD_OUT_SPAM.map((t) => filter.probability(t))
    const ham = HELD_OUT_HAM.map((t) => filter.probability(t))
    // AUC: the chance that a random spam text scores above a random customer post.
    let above = 0
    for (const s of spam) for (const h of ham) above += s > h ? 1 : s === h ? 0.5 : 0
    expect(above / (spam.length * ham.length)).toBeGreaterThanOrEqual(0.97)
    // From p = 0.8, where its weight in the filter is over half of what condemns a post, it is right every time.
    expect(spam.filter((p) => p < 0.8)).toEqual([])
    expect(ham.filter((p) => p >= 0.8)).toEqual([])
  })

  it("rules and classifier together filter held-out spam and keep every held-out customer post", () => {
    const missed = HELD_OUT_SPAM.filter((t) => !filter.check(text(t)).spam)
    const wrong = HELD_OUT_HAM.filter((t) => filter.check(text(t)).spam)
    expect(wrong).toEqual([])
    expect(missed.length, missed.join("\n")).toBeLessThanOrEqual(1)
  })

  it("the classifier alone can condemn spam no rule knows", () => {
    const t = "Tired of being broke? This app pays you daily, link in my profile 💸"
    const v = filter.check(text(t))
    expect(v.reasons).toContain("classifier")
    expect(v.spam).toBe(true)
  })

  it("a training set can replace the shipped one", () => {
    const custom = createSpamFilter({
      training: [
        { text: "purple monkey dishwasher", label: "spam" },
        { text: "purple monkey circus", label: "spam" },
        { text: "lovely warm jacket", label: "ham" },
        { text: "warm boots lovely fit", label: "ham" },
      ],
    })
    expect(custom.probability("purple monkey")).toBeGreaterThan(0.5)
    expect(custom.probability("lovely jacket")).toBeLessThan(0.5)
  })

  it("the shipped training set is hand-written: no text of the dev or evaluation data in it", () => {
    const training = shippedTraining()
    expect(training.filter((e) => e.label === "spam").length).toBeGreaterThanOrEqual(40)
    expect(training.filter((e) => e.label === "ham").length).toBeGreaterThanOrEqual(40)
    const own = new Set(training.map((e) => e.text.toLowerCase()))
    for (const t of [...HELD_OUT_SPAM, ...HELD_OUT_HAM]) expect(own.has(t.toLowerCase()), t).toBe(false)
    const pages = JSON.parse(readFileSync("/work/shared/data/signals/dev/tweets.json", "utf8")) as Array<{ data: Array<{ text: string }> }>
    const normalise = (t: string) => t.toLowerCase().replace(/https?:\/\/\S+/g, "").replace(/@\w+|\{brand\}/g, "").replace(/\s+/g, " ").trim()
    const trainingTexts = new Set(training.map((e) => normalise(e.text)))
    for (const page of pages) for (const tweet of page.data) expect(trainingTexts.has(normalise(tweet.text)), tweet.text).toBe(false)
  })
})
