// Writes the bundled demo sample of `cdp demo`: four weeks of a made-up coffee roaster, Copperleaf Coffee, on every
// channel the demo ingests. Seeded, so the same code always writes the same bytes (test/cli/demo-sample.test.ts
// checks the committed files). Every name, address, number and text is invented: domains are reserved (.example),
// phone numbers are fiction ranges (US 555-01xx, UK 020 7946 0xxx / 07700 900xxx), IPs are RFC 5737 ranges.
//   node ingest/samples/generate.ts [DIR]      (Node 24 runs it as it is; DIR defaults to this file's folder)
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const SEED = 20260302
const START = Date.parse("2026-03-02T00:00:00.000Z")
const DAYS = 28
const MINUTE = 60_000
const HOUR = 3_600_000
const DAY = 86_400_000
/** Fixed, so the figures the demo prints (and tests quote) stay put when the mix of the sample changes. */
export const WEB_MESSAGES = 1509

const BRAND = {
  name: "Copperleaf Coffee",
  handle: "copperleafcoffee",
  twitterId: "1630000000000000042",
  site: "https://copperleaf.example",
  support: "support@copperleaf.example",
  newsletter: "hello@news.copperleaf.example",
}

/** What the sample is, in a few words, for `cdp demo` to say. */
export const SAMPLE_TITLE = `four weeks of ${BRAND.name}, a made-up coffee roaster`

/** The files written, in the order the demo lands them, with the source that reads each. */
export const SAMPLE_FILES: ReadonlyArray<{ readonly file: string; readonly source: string; readonly what: string }> = [
  { file: "web.ndjson", source: "segment", what: "Segment messages from the web shop (page, track, identify, alias)" },
  { file: "invalid.ndjson", source: "segment", what: "Segment messages that must be refused, each for its own reason" },
  { file: "email-events.json", source: "sendgrid", what: "SendGrid Event Webhook events of newsletters and order mails" },
  { file: "support.mbox", source: "email", what: "customer mails to support (mboxrd)" },
  { file: "chat.ndjson", source: "chat", what: "live-chat transcripts, one conversation a line" },
  { file: "calls.csv", source: "calls", what: "contact-centre call export" },
  { file: "tweets.json", source: "twitter", what: "X API v2 recent-search pages mentioning the brand" },
  { file: "reviews.ndjson", source: "social", what: "reviews and posts from other networks" },
]

// ---------------------------------------------------------------------------------------------------------------
// Randomness

class Rng {
  private state: number
  constructor(seed: number) {
    this.state = seed >>> 0
  }
  /** mulberry32: small, fast and the same on every platform. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1)
  }
  chance(p: number): boolean {
    return this.next() < p
  }
  pick<T>(items: ReadonlyArray<T>): T {
    return items[this.int(items.length)]!
  }
  hex(n: number): string {
    let s = ""
    for (let i = 0; i < n; i++) s += "0123456789abcdef"[this.int(16)]
    return s
  }
  b62(n: number): string {
    const abc = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    let s = ""
    for (let i = 0; i < n; i++) s += abc[this.int(62)]
    return s
  }
  digits(n: number): string {
    let s = String(this.range(1, 9))
    for (let i = 1; i < n; i++) s += String(this.int(10))
    return s
  }
  uuid(): string {
    const h = this.hex(32)
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${"89ab"[this.int(4)]}${h.slice(17, 20)}-${h.slice(20)}`
  }
}

const iso = (ms: number): string => new Date(ms).toISOString()

// ---------------------------------------------------------------------------------------------------------------
// The shop

interface Product { readonly id: string; readonly name: string; readonly price: number; readonly kind: "beans" | "gear" }

const PRODUCTS: ReadonlyArray<Product> = ([
  ["CC-101", "Sunrise House Blend", 14, "beans"],
  ["CC-102", "Ethiopia Guji Natural", 19, "beans"],
  ["CC-103", "Colombia Swiss Water Decaf", 16, "beans"],
  ["CC-104", "Night Owl Espresso", 15, "beans"],
  ["CC-105", "Kenya Kirinyaga AA", 21, "beans"],
  ["CC-106", "Guatemala Huehuetenango", 17, "beans"],
  ["CC-201", "Pour-Over Starter Kit", 49, "gear"],
  ["CC-202", "Conical Burr Grinder", 129, "gear"],
  ["CC-203", "Gooseneck Kettle", 59, "gear"],
  ["CC-204", "Stoneware Travel Mug", 24, "gear"],
  ["CC-205", "Cold Brew Jar", 29, "gear"],
] as const).map(([id, name, price, kind]) => ({ id, name, price, kind }))

const slug = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "")

const SEARCHES = ["decaf", "espresso", "grinder", "light roast", "subscription", "kettle", "gift card", "cold brew"]
const GUIDES = ["pour-over", "french-press", "cold-brew", "aeropress"]

const FIRST = [
  "Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Isla", "Jonas", "Kemi", "Liam", "Maya", "Noah",
  "Olga", "Pedro", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoe", "Amir", "Bea",
  "Carlos", "Dana", "Emeka", "Fiona", "Gus", "Hana", "Ivan", "Jade", "Kai", "Lena", "Mateo", "Nadia",
]
const LAST = [
  "Okafor", "Lindqvist", "Moreau", "Patel", "Kowalski", "Haddad", "Nguyen", "Tanaka", "Brennan", "Schulz", "Adeyemi",
  "Walsh", "Ferreira", "Novak", "Ivanova", "Castillo", "Byrne", "Romano", "Achebe", "Yilmaz", "Larsen", "Dubois",
  "Mensah", "Silva", "Fischer", "Kaur", "Murphy", "Rossi", "Sato", "Jensen",
]
const MAIL_DOMAINS = ["mail.example", "post.example", "inbox.example", "example.com", "example.org", "example.net"]
const US_AREAS = ["503", "206", "415", "312", "617"]
const AGENTS = ["Priya", "Tom", "Marisol", "Kwame"]

const USER_AGENTS = {
  desktop: [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:136.0) Gecko/20100101 Firefox/136.0",
  ],
  mobile: [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.3 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Mobile Safari/537.36",
  ],
}

/** Consent purposes as the shop's consent banner names them (Segment's context.consent.categoryPreferences). */
type Consent = Record<"Analytics" | "Advertising" | "Personalization" | "CrmSync" | "SocialListening", boolean>

const consentOf = (r: Rng): Consent => {
  const all = r.chance(0.55)
  return {
    Analytics: all || r.chance(0.7),
    Advertising: all,
    Personalization: all || r.chance(0.5),
    CrmSync: all || r.chance(0.4),
    SocialListening: all || r.chance(0.6),
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Texts customers write: positive, negative, neutral and questions, so sentiment and listening have something to show

type Mood = "positive" | "negative" | "neutral" | "question"

const SAYINGS: Readonly<Record<Mood, ReadonlyArray<string>>> = {
  positive: [
    "The {product} is fantastic, bright and sweet with no bitterness at all. My new morning favourite!",
    "Delivery was quick and the {product} arrived beautifully packed. Thank you, great service.",
    "Loving my {product}. Easily the best coffee I have had at home, and the roast date was only two days old.",
    "Your support team sorted my order in minutes. Friendly, helpful and honest. Really impressed.",
    "Just finished my first bag of {product} and already ordered two more. Excellent!",
  ],
  negative: [
    "My {product} arrived {days} days late and the bag was torn open. Really disappointed.",
    "The {product} tastes stale and burnt this time. Not what I paid for, I want a refund.",
    "Still waiting for a reply about order {order}. Terrible service, nobody answers.",
    "The lid of the {product} cracked after a week. Poor quality for the price.",
    "I was charged twice for order {order} and the checkout kept failing. Frustrating and annoying.",
  ],
  neutral: [
    "Please change the delivery address on order {order} to my work address.",
    "I moved my subscription to every two weeks from next month.",
    "Order {order} arrived today. Bag of {product}, 250 g, whole bean.",
    "Updating my payment card before the next subscription charge.",
  ],
  question: [
    "Do you ship the {product} to the UK, and how long does it take?",
    "Is the {product} good for espresso or only for filter?",
    "Where is my order {order}? The tracking page has not changed for {days} days.",
    "Can I pause my subscription while I am away for a month?",
    "Which grind setting would you suggest for a pour-over with the {product}?",
  ],
}

const fill = (template: string, r: Rng, ctx: { product: Product; order: string }): string =>
  template.replace("{product}", ctx.product.name).replace("{order}", ctx.order).replace("{days}", String(r.range(3, 12)))

const moodOf = (r: Rng): Mood => {
  const x = r.next()
  return x < 0.35 ? "positive" : x < 0.65 ? "negative" : x < 0.8 ? "neutral" : "question"
}

// ---------------------------------------------------------------------------------------------------------------
// People

interface Person {
  readonly first: string
  readonly last: string
  readonly anonymousId: string
  readonly country: "US" | "GB"
  readonly ip: string
  readonly mobile: boolean
  readonly consent: Consent
  userId?: string
  email?: string
  /** As typed into the sign-up form (odd case, spaces). */
  emailTyped?: string
  /** E.164, and how the person typed it and how a phone system shows it. */
  phone?: { readonly e164: string; readonly typed: string; readonly national: string }
  twitter?: string
  subscribedAt?: number
  /** One of the first few who sign up: on every channel. */
  regular: boolean
  orders: Array<{ readonly id: string; readonly t: number; readonly product: Product; readonly total: number }>
}

let usPhones = 0
let ukPhones = 0

const phoneFor = (r: Rng, country: "US" | "GB") => {
  if (country === "US") {
    const n = usPhones++
    const area = US_AREAS[Math.floor(n / 100) % US_AREAS.length]!
    const line = `01${String(n % 100).padStart(2, "0")}`
    return {
      e164: `+1${area}555${line}`,
      typed: r.pick([`+1 (${area}) 555-${line}`, `+1 ${area}-555-${line}`, `+1${area}555${line}`]),
      national: r.pick([`(${area}) 555-${line}`, `${area}-555-${line}`, `${area}.555.${line}`]),
    }
  }
  const n = ukPhones++
  const london = n % 2 === 0
  const tail = String(Math.floor(n / 2) % 1000).padStart(3, "0")
  return london
    ? { e164: `+442079460${tail}`, typed: `+44 20 7946 0${tail}`, national: `020 7946 0${tail}` }
    : { e164: `+447700900${tail}`, typed: `+44 7700 900${tail}`, national: `07700 900${tail}` }
}

const makePerson = (r: Rng): Person => {
  const country = r.chance(0.7) ? "US" : "GB"
  return {
    first: r.pick(FIRST),
    last: r.pick(LAST),
    anonymousId: r.uuid(),
    country,
    ip: `${r.pick(["192.0.2", "198.51.100", "203.0.113"])}.${r.range(1, 254)}`,
    mobile: r.chance(0.55),
    consent: consentOf(r),
    regular: false,
    orders: [],
  }
}

const emailFor = (r: Rng, p: Person, taken: Set<string>): string => {
  for (let attempt = 0; ; attempt++) {
    const local = r.pick([`${p.first}.${p.last}`, `${p.first}${p.last}`, `${p.first[0]}.${p.last}`, `${p.first}_${p.last}`])
    const address = `${local}${attempt === 0 ? "" : attempt + 1}@${r.pick(MAIL_DOMAINS)}`.toLowerCase()
    if (!taken.has(address)) {
      taken.add(address)
      return address
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Web (Segment)

type Json = Record<string, unknown>

interface Page { readonly path: string; readonly title: string; readonly name: string; readonly product?: Product; readonly query?: string }

const pageOf = (r: Rng, kind: string): Page => {
  switch (kind) {
    case "home": return { path: "/", title: BRAND.name, name: "Home" }
    case "beans": return { path: "/shop/beans", title: "Coffee beans", name: "Category" }
    case "gear": return { path: "/shop/brewing-gear", title: "Brewing gear", name: "Category" }
    case "guide": {
      const g = r.pick(GUIDES)
      return { path: `/brew-guides/${g}`, title: `How to brew: ${g.replace("-", " ")}`, name: "Brew guide" }
    }
    case "search": {
      const q = r.pick(SEARCHES)
      return { path: `/search?q=${encodeURIComponent(q)}`, title: `Search: ${q}`, name: "Search", query: q }
    }
    default: {
      const product = r.pick(PRODUCTS)
      return { path: `/p/${slug(product.name)}`, title: product.name, name: "Product", product }
    }
  }
}

class Web {
  readonly messages: Array<Json> = []
  private readonly r: Rng
  constructor(r: Rng) {
    this.r = r
  }

  private send(p: Person, type: string, t: number, fields: Json, page: Page, consent: Consent | undefined): void {
    const r = this.r
    const pageContext = { path: page.path, title: page.title, url: `${BRAND.site}${page.path}` }
    const context: Json = {
      ip: p.ip,
      library: { name: "analytics.js", version: "npm:next-1.76.0" },
      locale: p.country === "US" ? "en-US" : "en-GB",
      page: pageContext,
      userAgent: r.pick(p.mobile ? USER_AGENTS.mobile : USER_AGENTS.desktop),
    }
    if (consent !== undefined) context["consent"] = { categoryPreferences: consent }
    const m: Json = { type, ...fields, messageId: `ajs-next-${r.hex(32)}`, anonymousId: p.anonymousId }
    if (p.userId !== undefined) m["userId"] = p.userId
    m["timestamp"] = iso(t)
    m["sentAt"] = iso(t + r.range(40, 2500))
    if (type === "page") m["properties"] = pageContext
    else if (fields["properties"] === undefined && type === "track") m["properties"] = {}
    m["context"] = context
    this.messages.push(m)
  }

  /** One visit: a few pages, perhaps a search, a cart and an order; a sign-up when `signUp` says so. */
  visit(p: Person, start: number, opts: { signUp?: (t: number, page: Page) => number; consent: Consent | undefined; orderRate: number }): number {
    const r = this.r
    let t = start
    const pages = r.pick([1, 1, 2, 2, 3, 4])
    let last: Page = pageOf(r, r.pick(["home", "home", "product", "beans", "guide", "search"]))
    for (let i = 0; i < pages; i++) {
      if (i > 0) last = pageOf(r, r.pick(["product", "product", "product", "beans", "gear", "guide", "search"]))
      this.send(p, "page", t, { name: last.name }, last, opts.consent)
      t += r.range(15, 140) * 1000
      if (last.query !== undefined && r.chance(0.6)) {
        this.send(p, "track", t, { event: "Products Searched", properties: { query: last.query } }, last, opts.consent)
        t += r.range(5, 30) * 1000
      }
      if (last.product !== undefined && r.chance(0.3)) {
        const pr = last.product
        this.send(p, "track", t, { event: "Product Viewed", properties: { product_id: pr.id, name: pr.name, price: pr.price, currency: p.country === "US" ? "USD" : "GBP" } }, last, opts.consent)
        t += r.range(10, 90) * 1000
      }
    }
    if (opts.signUp !== undefined) t = opts.signUp(t, last)
    if (last.product !== undefined && r.chance(opts.orderRate)) {
      const pr = last.product
      const quantity = pr.kind === "beans" ? r.range(1, 3) : 1
      const currency = p.country === "US" ? "USD" : "GBP"
      this.send(p, "track", t, { event: "Product Added", properties: { product_id: pr.id, name: pr.name, price: pr.price, quantity, currency } }, last, opts.consent)
      t += r.range(20, 200) * 1000
      if (r.chance(0.8)) {
        const cart: Page = { path: "/checkout", title: "Checkout", name: "Checkout" }
        this.send(p, "page", t, { name: cart.name }, cart, opts.consent)
        t += r.range(60, 300) * 1000
        const orderId = `CC-${r.digits(6)}`
        const total = pr.price * quantity
        this.send(p, "track", t, { event: "Order Completed", properties: { order_id: orderId, total, currency, products: [{ product_id: pr.id, quantity, price: pr.price }] } }, cart, opts.consent)
        p.orders.push({ id: orderId, t, product: pr, total })
        t += r.range(20, 60) * 1000
      }
    }
    return t
  }

  /** Sign-up: identify with what the form asked (as typed), then Signed Up; messages from now on carry the userId. */
  signUp(p: Person, t: number, consent: Consent, subscribe: boolean): number {
    const r = this.r
    const page: Page = { path: "/account/sign-up", title: "Create your account", name: "Sign up" }
    this.send(p, "page", t, { name: page.name }, page, consent)
    t += r.range(40, 180) * 1000
    p.userId = `usr_${r.b62(12)}`
    const traits: Json = { email: p.emailTyped, first_name: p.first, last_name: p.last }
    if (p.phone !== undefined) traits["phone"] = p.phone.typed
    if (p.twitter !== undefined) traits["twitter"] = `@${p.twitter}`
    traits["address"] = { country: p.country }
    traits["newsletter"] = subscribe
    this.send(p, "identify", t, { traits }, page, consent)
    t += r.range(1, 4) * 1000
    this.send(p, "track", t, { event: "Signed Up", properties: { method: "email" } }, page, consent)
    if (subscribe) {
      t += r.range(1, 4) * 1000
      this.send(p, "track", t, { event: "Newsletter Subscribed", properties: { list: "weekly-roast" } }, page, consent)
      p.subscribedAt = t
    }
    return t + r.range(20, 90) * 1000
  }

  /** A newsletter sign-up from the footer: identify without a userId, the address the only trait. */
  newsletterOnly(p: Person, t: number, consent: Consent | undefined): number {
    const page: Page = { path: "/", title: BRAND.name, name: "Home" }
    this.send(p, "identify", t, { traits: { email: p.emailTyped } }, page, consent)
    this.send(p, "track", t + 1500, { event: "Newsletter Subscribed", properties: { list: "weekly-roast" } }, page, consent)
    p.subscribedAt = t + 1500
    return t + 60_000
  }

  consentChanged(p: Person, t: number, consent: Consent): void {
    const page: Page = { path: "/privacy", title: "Privacy choices", name: "Privacy" }
    this.send(p, "track", t, { event: "Segment Consent Preference Updated" }, page, consent)
  }

  /** A signed-in visit from a second device: alias ties the new browser to the account. */
  alias(p: Person, t: number, newAnonymousId: string): void {
    const r = this.r
    const page: Page = { path: "/account", title: "My account", name: "Account" }
    const m: Json = { type: "alias", messageId: `ajs-next-${r.hex(32)}`, anonymousId: newAnonymousId, userId: p.userId, previousId: newAnonymousId, timestamp: iso(t), sentAt: iso(t + 300) }
    m["context"] = { ip: p.ip, library: { name: "analytics.js", version: "npm:next-1.76.0" }, page: { path: page.path, title: page.title, url: `${BRAND.site}${page.path}` } }
    this.messages.push(m)
  }
}

/** A moment in the window, in the person's waking hours. */
const momentIn = (r: Rng, fromDay: number, toDay: number): number =>
  START + r.range(fromDay, toDay) * DAY + r.range(7, 22) * HOUR + r.int(60) * MINUTE + r.int(60_000)

// ---------------------------------------------------------------------------------------------------------------
// The other channels

const sendgridEvents = (r: Rng, people: ReadonlyArray<Person>): Array<Json> => {
  const events: Array<Json> = []
  const event = (p: Person, t: number, type: string, sgMessageId: string, category: ReadonlyArray<string>, extra: Json = {}) => {
    events.push({ email: p.email, timestamp: Math.floor(t / 1000), event: type, sg_event_id: r.b62(22), sg_message_id: sgMessageId, category, ...extra })
  }
  const send = (p: Person, t: number, category: ReadonlyArray<string>, links: ReadonlyArray<string>, openRate: number) => {
    const id = `${r.b62(22)}.recvd-${r.b62(10)}-1-${r.hex(8).toUpperCase()}-${r.int(20)}.0`
    event(p, t, "processed", id, category)
    if (r.chance(0.02)) {
      event(p, t + r.range(2, 30) * 1000, "bounce", id, category, { reason: "550 5.1.1 The email account that you tried to reach does not exist", type: "bounce" })
      return
    }
    let at = t + r.range(2, 40) * 1000
    event(p, at, "delivered", id, category, { response: "250 2.0.0 OK" })
    if (!r.chance(openRate)) return
    at += r.range(10, 600) * MINUTE
    const ua = r.pick(p.mobile ? USER_AGENTS.mobile : USER_AGENTS.desktop)
    event(p, at, "open", id, category, { useragent: ua, ip: p.ip })
    if (r.chance(0.3)) event(p, at + r.range(5, 120) * 1000, "click", id, category, { url: r.pick(links), useragent: ua, ip: p.ip })
  }
  // Weekly newsletters to whoever had subscribed by then; a few people leave, one calls it spam.
  const unsubscribed = new Set<Person>()
  const leaving = ["unsubscribe", "spamreport", "unsubscribe", "group_unsubscribe"]
  const issues = [7, 14, 21].map((d) => START + d * DAY + 15 * HOUR)
  for (const [n, sendAt] of issues.entries()) {
    const campaign = `weekly-roast-${iso(sendAt).slice(0, 10)}`
    const links = [`${BRAND.site}/shop/beans?utm_source=newsletter&utm_campaign=${campaign}`, `${BRAND.site}/p/${slug(PRODUCTS[n + 1]!.name)}?utm_source=newsletter&utm_campaign=${campaign}`]
    for (const p of people) {
      if (p.email === undefined || p.subscribedAt === undefined || p.subscribedAt > sendAt || unsubscribed.has(p)) continue
      const t = sendAt + r.int(20 * MINUTE)
      send(p, t, ["newsletter", campaign], links, 0.45)
      if (r.chance(0.05)) {
        const kind = leaving[unsubscribed.size % leaving.length]!
        event(p, t + r.range(1, 48) * HOUR, kind, `${r.b62(22)}.recvd-${r.b62(10)}-1-0-0.0`, ["newsletter", campaign], kind === "group_unsubscribe" ? { asm_group_id: 4012 } : {})
        unsubscribed.add(p)
      }
    }
  }
  // Order confirmations: transactional, opened more often.
  for (const p of people) {
    if (p.email === undefined) continue
    for (const o of p.orders) send(p, o.t + r.range(20, 90) * 1000, ["order-confirmation"], [`${BRAND.site}/account/orders/${o.id}`], 0.75)
  }
  return events.sort((a, b) => (a["timestamp"] as number) - (b["timestamp"] as number))
}

const rfc5322Date = (ms: number): string => {
  const d = new Date(ms)
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
  const two = (n: number) => String(n).padStart(2, "0")
  return `${days[d.getUTCDay()]}, ${d.getUTCDate()} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`
}

const mboxDate = (ms: number): string => {
  // asctime(), as mbox "From " lines carry it: "Thu Mar  5 10:00:00 2026".
  const [day, , , , time] = rfc5322Date(ms).replace(",", "").split(" ")
  const d = new Date(ms)
  const month = rfc5322Date(ms).split(" ")[2]
  return `${day} ${month} ${String(d.getUTCDate()).padStart(2, " ")} ${time} ${d.getUTCFullYear()}`
}

const SUBJECTS: Readonly<Record<Mood, string>> = {
  positive: "Thank you!",
  negative: "Problem with my order",
  neutral: "Change to my account",
  question: "Quick question",
}

const supportMail = (r: Rng, p: Person, t: number, mood: Mood, reply: boolean): string => {
  const order = p.orders[0]
  const product = order?.product ?? r.pick(PRODUCTS)
  const text = fill(r.pick(SAYINGS[mood]), r, { product, order: order?.id ?? `CC-${r.digits(6)}` })
  const name = `${p.first} ${p.last}`
  const id = `${r.hex(24)}@${p.email!.split("@")[1]}`
  const lines = [`Hi there,`, ``, text, ``]
  // A line starting with "From " is escaped in mboxrd (">From "), and the reader must undo that.
  if (r.chance(0.3)) lines.push(`From what I can see on the website, this should be easy to fix.`, ``)
  lines.push(`Thanks,`, name)
  if (p.phone !== undefined && r.chance(0.5)) lines.push(`-- `, name, `Mobile: ${p.phone.typed}`)
  if (reply) lines.push(``, `On ${rfc5322Date(t - 2 * DAY)}, ${BRAND.name} Support <${BRAND.support}> wrote:`, `> Thanks for getting in touch. Could you tell us a bit more?`)
  const headers = [
    `From: ${name} <${p.email}>`,
    `To: ${BRAND.name} Support <${BRAND.support}>`,
    `Subject: ${reply ? "Re: " : ""}${SUBJECTS[mood]}`,
    `Date: ${rfc5322Date(t)}`,
    `Message-ID: <${id}>`,
  ]
  if (reply) headers.push(`In-Reply-To: <${r.hex(24)}@copperleaf.example>`)
  headers.push(`MIME-Version: 1.0`, `Content-Type: text/plain; charset=utf-8`, `Content-Transfer-Encoding: 8bit`)
  const body = lines.map((l) => (/^>*From /.test(l) ? `>${l}` : l))
  return [`From ${p.email} ${mboxDate(t)}`, ...headers, ``, ...body, ``].join("\n")
}

const chatTranscript = (r: Rng, p: Person, t: number, mood: Mood): Json => {
  const order = p.orders[0]
  const product = order?.product ?? r.pick(PRODUCTS)
  const agent = r.pick(AGENTS)
  const said = fill(r.pick(SAYINGS[mood]), r, { product, order: order?.id ?? `CC-${r.digits(6)}` })
  let at = t
  const line = (from: "visitor" | "agent", text: string) => {
    at += r.range(15, 120) * 1000
    return from === "agent" ? { from, at: iso(at), text, agent_name: agent } : { from, at: iso(at), text }
  }
  const messages = [
    line("agent", `Hi, this is ${agent} from ${BRAND.name}. How can I help?`),
    line("visitor", said),
    line("agent", mood === "negative" ? "I am sorry about that. Let me look into it for you right away." : "Happy to help with that."),
  ]
  if (mood === "negative") messages.push(line("visitor", r.pick(["Ok, thanks. I hope it gets sorted this time.", "Please just refund me.", "Fine, but this is the second time."])))
  else messages.push(line("visitor", r.pick(["Great, thanks a lot!", "Perfect, that answers it.", "Ok, thank you."])))
  messages.push(line("agent", "Anything else I can do for you today?"))
  const transcript: Json = { conversation_id: `conv_${r.b62(14)}`, visitor_id: p.anonymousId, started_at: iso(t), ended_at: iso(at + 30_000), channel: "website" }
  if (p.email !== undefined && r.chance(0.8)) {
    transcript["visitor_email"] = r.chance(0.2) ? ` ${p.email.toUpperCase()}` : p.email
    transcript["visitor_name"] = p.first
  }
  if (r.chance(0.7)) transcript["csat"] = mood === "negative" ? r.range(1, 2) : mood === "positive" ? 5 : r.range(3, 5)
  transcript["messages"] = messages
  return transcript
}

const CALL_NOTES: Readonly<Record<Mood, ReadonlyArray<string>>> = {
  positive: [
    "Customer called to say thanks, loves the {product}. Asked us to pass praise to the roasting team.",
    "Happy customer, wanted to order the {product} as a gift. Order placed on the call, very pleasant.",
  ],
  negative: [
    "Customer upset: {product} arrived damaged, \"the second time this month\". Sending a replacement, refund offered.",
    "Angry about a late delivery of order {order}. Escalated to the courier, customer unhappy with the wait.",
    "Complaint: charged twice for order {order}. Refund of the duplicate charge raised, customer frustrated.",
  ],
  neutral: [
    "Changed delivery address for order {order}.",
    "Updated subscription to every two weeks, starting next month.",
  ],
  question: [
    "Asked whether the {product} works for espresso. Explained grind settings.",
    "Asked where order {order} is; tracking shows it with the courier, due tomorrow.",
  ],
}

const csvField = (v: string): string => (/[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)

const callRow = (r: Rng, p: Person | undefined, t: number, mood: Mood): string => {
  const order = p?.orders[0]
  const product = order?.product ?? r.pick(PRODUCTS)
  let notes = fill(r.pick(CALL_NOTES[mood]), r, { product, order: order?.id ?? `CC-${r.digits(6)}` })
  // Agents sometimes type a line break into the notes; CSV keeps it inside quotes.
  if (r.chance(0.15)) notes += "\nFollow-up: call back in two days."
  const phone = p?.phone?.national ?? r.pick(["Anonymous", "withheld", `(971) 555-01${r.range(10, 99)}`])
  const fields = [
    `call_${r.b62(12)}`, iso(t).replace(".000", ""), String(r.range(45, 1200)), r.chance(0.85) ? "inbound" : "outbound", phone,
    r.pick(AGENTS), r.pick(["orders", "subscriptions", "general"]), mood === "negative" ? r.pick(["escalated", "refund", "resolved"]) : "resolved", notes,
  ]
  return fields.map(csvField).join(",")
}

const TWEETS: Readonly<Record<Mood, ReadonlyArray<string>>> = {
  positive: [
    "Morning ritual sorted: {product} from @copperleafcoffee is absolutely delicious #coffee",
    "Shout out to @copperleafcoffee, fastest delivery ever and the {product} is superb",
    "@copperleafcoffee your {product} made my weekend. Wonderful stuff!",
  ],
  negative: [
    "@copperleafcoffee my {product} arrived broken and support has gone silent. Awful. #fail",
    "Third late delivery from @copperleafcoffee this month. Disappointed, cancelling my subscription.",
    "@copperleafcoffee the new {product} tastes burnt and bitter, what happened?",
  ],
  neutral: [
    "Trying the {product} from @copperleafcoffee this week.",
    "@copperleafcoffee is doing a brew guide livestream on Friday #coffee",
  ],
  question: [
    "@copperleafcoffee do you ship to Ireland?",
    "@copperleafcoffee is the {product} any good for cold brew?",
  ],
}

const SPAM_TWEETS = [
  "Buy 1000 real followers for $5, instant delivery, DM now #coffee @copperleafcoffee",
  "FREE iPhone giveaway!!! click the link in bio to claim #coffee #copperleaf",
]

/** A tweet id as X mints them: milliseconds since its epoch, shifted, plus worker and sequence bits. */
const snowflake = (r: Rng, t: number): string => ((BigInt(t - 1288834974657) << 22n) | BigInt(r.int(4_194_304))).toString()

interface XAuthor { readonly id: string; readonly username: string; readonly name: string; readonly followers: number }

const tweetPages = (r: Rng, people: ReadonlyArray<Person>): Array<Json> => {
  const customers: Array<[XAuthor, Person | undefined]> = people
    .filter((p) => p.twitter !== undefined)
    .map((p) => [{ id: r.digits(r.range(9, 18)), username: p.twitter!, name: `${p.first} ${p.last[0]}.`, followers: r.range(20, 3000) }, p])
  for (let i = 0; i < 12; i++) {
    const first = r.pick(FIRST)
    customers.push([{ id: r.digits(r.range(9, 18)), username: `${first.toLowerCase()}${r.pick(["brews", "_bean", "drinks", "cafe"])}${r.range(1, 99)}`, name: first, followers: r.range(5, 40_000) }, undefined])
  }
  const spammer: XAuthor = { id: r.digits(18), username: `promo_deals_${r.range(100, 999)}`, name: "Best Deals", followers: 3 }
  const tweets: Array<{ tweet: Json; author: XAuthor }> = []
  const add = (author: XAuthor, t: number, text: string, reply?: string) => {
    const id = snowflake(r, t)
    const mentions: Array<Json> = []
    const hashtags: Array<Json> = []
    for (const m of text.matchAll(/@(\w+)/g)) mentions.push({ start: m.index, end: m.index + m[0].length, username: m[1], ...(m[1] === BRAND.handle ? { id: BRAND.twitterId } : {}) })
    for (const m of text.matchAll(/#(\w+)/g)) hashtags.push({ start: m.index, end: m.index + m[0].length, tag: m[1] })
    const tweet: Json = { id, text, author_id: author.id, created_at: iso(t), conversation_id: reply ?? id, lang: "en" }
    if (reply !== undefined) {
      tweet["in_reply_to_user_id"] = BRAND.twitterId
      tweet["referenced_tweets"] = [{ type: "replied_to", id: reply }]
    }
    tweet["public_metrics"] = { retweet_count: r.int(4), reply_count: r.int(3), like_count: r.int(25), quote_count: 0, impression_count: r.range(20, 4000) }
    tweet["entities"] = { mentions, hashtags }
    tweets.push({ tweet, author })
  }
  for (let i = 0; i < 55; i++) {
    const [author, p] = r.pick(customers)
    const mood = moodOf(r)
    const product = p?.orders[0]?.product ?? r.pick(PRODUCTS)
    const t = momentIn(r, 0, DAYS - 1)
    add(author, t, fill(r.pick(TWEETS[mood]), r, { product, order: "" }), r.chance(0.15) ? snowflake(r, t - HOUR) : undefined)
  }
  // A burst of complaints on one day, so listening has a spike to find.
  for (let i = 0; i < 9; i++) {
    const [author] = r.pick(customers)
    add(author, START + 17 * DAY + r.range(9, 20) * HOUR + r.int(HOUR), r.pick([
      "@copperleafcoffee the website has been down all morning and my subscription order failed. Terrible.",
      "Can't log in to @copperleafcoffee and checkout keeps failing. So frustrating.",
      "@copperleafcoffee is your site broken? Payment failed three times, really annoying.",
    ]))
  }
  for (const text of SPAM_TWEETS) add(spammer, momentIn(r, 0, DAYS - 1), text)
  // Recent search answers newest first, in pages.
  tweets.sort((a, b) => Date.parse(b.tweet["created_at"] as string) - Date.parse(a.tweet["created_at"] as string))
  const pages: Array<Json> = []
  for (let i = 0; i < tweets.length; i += 20) {
    const page = tweets.slice(i, i + 20)
    const users = new Map<string, Json>()
    for (const { author } of page) {
      users.set(author.id, { id: author.id, username: author.username, name: author.name, public_metrics: { followers_count: author.followers } })
    }
    const meta: Json = { newest_id: page[0]!.tweet["id"], oldest_id: page[page.length - 1]!.tweet["id"], result_count: page.length }
    if (i + 20 < tweets.length) meta["next_token"] = r.b62(16).toLowerCase()
    pages.push({ data: page.map((p) => p.tweet), includes: { users: [...users.values()] }, meta })
  }
  return pages
}

const REVIEWS: Readonly<Record<Mood, ReadonlyArray<string>>> = {
  positive: ["Excellent beans, always fresh and delivery is fast.", "Lovely {product}, great value and friendly service.", "Best roaster I have found, highly recommend the {product}."],
  negative: ["Parcel arrived late and the {product} was stale. Very disappointed.", "Customer service never replied to my complaint. Avoid.", "Overpriced and the grinder broke within a month."],
  neutral: ["Decent coffee, nothing special. Delivery took four days.", "The {product} is fine. Packaging is plastic free."],
  question: ["Does anyone know if the {product} is good for espresso?", "Has anyone tried their subscription? Is it worth it?"],
}

const reviews = (r: Rng): Array<Json> => {
  const out: Array<Json> = []
  for (let i = 0; i < 36; i++) {
    const mood = moodOf(r)
    const network = r.chance(0.7) ? "trustpilot" : "instagram"
    const first = r.pick(FIRST)
    const post: Json = { id: r.digits(10), network, author_handle: `${first.toLowerCase()}.${r.pick(LAST).toLowerCase()}${r.range(1, 99)}`, author_name: first }
    post["text"] = fill(r.pick(REVIEWS[mood]), r, { product: r.pick(PRODUCTS), order: "" })
    post["created_at"] = iso(momentIn(r, 0, DAYS - 1))
    if (network === "trustpilot" && mood !== "question") post["rating"] = mood === "positive" ? r.range(4, 5) : mood === "negative" ? r.range(1, 2) : 3
    else post["author_followers"] = r.range(10, 9000)
    post["url"] = `https://${network}.example/${network === "trustpilot" ? "review" : "p"}/${post["id"]}`
    post["lang"] = "en"
    out.push(post)
  }
  return out.sort((a, b) => Date.parse(a["created_at"] as string) - Date.parse(b["created_at"] as string))
}

// ---------------------------------------------------------------------------------------------------------------
// Broken messages: one defect a line, each refused for its own reason

interface Broken { readonly rule: string; readonly line: string; readonly why: string }

const brokenMessages = (r: Rng): Array<Broken> => {
  let n = 0
  const base = (over: Json = {}, drop: ReadonlyArray<string> = []): Json => {
    const t = START + r.int(DAYS * DAY)
    const m: Json = { type: "track", event: r.pick(["Product Viewed", "Order Completed", "Products Searched"]), messageId: `ajs-next-bad-${String(++n).padStart(2, "0")}`, anonymousId: r.uuid(), timestamp: iso(t), sentAt: iso(t + 800), properties: { product_id: r.pick(PRODUCTS).id }, context: { ip: `203.0.113.${r.range(1, 254)}`, library: { name: "analytics.js", version: "npm:next-1.76.0" } } }
    for (const k of drop) delete m[k]
    return { ...m, ...over }
  }
  const j = (m: unknown) => JSON.stringify(m)
  const out: Array<Broken> = []
  const add = (rule: string, line: string, why: string) => out.push({ rule, line, why })
  add("not_json", j(base()).slice(0, 90), "cut off in the middle (a truncated export)")
  add("not_json", j(base()).replace(/"/g, "'"), "single quotes are not JSON")
  add("not_json", j(base()).replace(/}$/, ",}"), "a trailing comma")
  add("not_json", "page viewed by 8f14e45f at 10:42", "a log line, not JSON")
  add("not_object", `[${j(base())}]`, "a batch array on a line: NDJSON wants one message object a line")
  add("not_object", j("track"), "a JSON string")
  add("not_object", "null", "JSON null")
  add("missing_type", j(base({}, ["type"])), "no type")
  add("missing_type", j(base({ type: null })), "type is null")
  add("unknown_type", j(base({ type: "" })), "an empty type")
  add("unknown_type", j(base({ type: "Track" })), "types are case-sensitive: \"Track\" is not \"track\"")
  add("unknown_type", j(base({ type: "pageview" })), "\"pageview\" is another tool's word for page")
  add("unknown_type", j(base({ type: "event" })), "not one of track, page, screen, identify, group, alias")
  add("missing_identity", j(base({}, ["anonymousId"])), "neither userId nor anonymousId")
  add("missing_identity", j(base({ userId: "" }, ["anonymousId"])), "an empty userId is no identity")
  add("missing_identity", j(base({ anonymousId: "   " })), "a blank anonymousId is no identity")
  add("missing_identity", j(base({ anonymousId: null, userId: null })), "both ids null")
  add("missing_identity", j(base({ type: "identify", traits: { email: "sam.jensen@mail.example" } }, ["event", "properties", "anonymousId"])), "an e-mail trait does not identify the sender: send a userId or anonymousId")
  add("user_id_not_string", j(base({ userId: { id: "usr_1" } })), "userId is an object")
  add("user_id_not_string", j(base({ userId: true })), "userId is a boolean")
  add("user_id_not_string", j(base({ userId: ["usr_1", "usr_2"] })), "userId is an array")
  add("anonymous_id_not_string", j(base({ anonymousId: { cookie: "abc" } })), "anonymousId is an object")
  add("anonymous_id_not_string", j(base({ anonymousId: false })), "anonymousId is a boolean")
  add("message_id_not_string", j(base({ messageId: null })), "messageId is null (leave it out and one is derived)")
  add("message_id_not_string", j(base({ messageId: 1234567 })), "messageId is a number")
  add("message_id_not_string", j(base({ messageId: ["ajs-next-1", "ajs-next-2"] })), "messageId is an array")
  add("bad_timestamp", j(base({ timestamp: "yesterday" })), "not a date-time")
  add("bad_timestamp", j(base({ timestamp: "2026-02-30T10:00:00Z" })), "30 February is not on the calendar")
  add("bad_timestamp", j(base({ timestamp: "03/14/2026 09:00" })), "a local date format, not ISO 8601")
  add("bad_timestamp", j(base({ timestamp: 1773475200000 })), "epoch milliseconds: send an ISO 8601 string")
  add("bad_timestamp", j(base({ sentAt: "soon" })), "sentAt is checked too")
  add("properties_not_object", j(base({ properties: "CC-101" })), "properties is a string")
  add("properties_not_object", j(base({ properties: [{ product_id: "CC-101" }] })), "properties is an array")
  add("properties_not_object", j(base({ properties: 42 })), "properties is a number")
  add("traits_not_object", j(base({ type: "identify", userId: "usr_x", traits: "ana@mail.example" }, ["event", "properties"])), "traits is a string")
  add("traits_not_object", j(base({ type: "identify", userId: "usr_y", traits: [["email", "ben@post.example"]] }, ["event", "properties"])), "traits is an array of pairs")
  add("context_not_object", j(base({ context: "web" })), "context is a string")
  add("context_not_object", j(base({ context: [] })), "context is an array")
  add("integrations_not_object", j(base({ integrations: "all" })), "integrations is a string")
  add("missing_event", j(base({}, ["event"])), "a track message names its event")
  add("missing_event", j(base({ event: "" })), "an empty event name")
  add("event_not_string", j(base({ event: 42 })), "event is a number")
  add("event_not_string", j(base({ event: { name: "Order Completed" } })), "event is an object")
  add("name_not_string", j(base({ type: "page", name: 404 }, ["event"])), "a page name is a string")
  add("missing_previous_id", j(base({ type: "alias", userId: "usr_alias1" }, ["event", "properties"])), "alias needs the previousId it merges")
  add("missing_previous_id", j(base({ type: "alias", userId: "usr_alias2", previousId: null }, ["event", "properties"])), "previousId is null")
  add("missing_group_id", j(base({ type: "group", userId: "usr_group1", traits: { name: "Riverside Cafe" } }, ["event", "properties"])), "group needs a groupId")
  add("missing_group_id", j(base({ type: "group", userId: "usr_group2", groupId: null, traits: { name: "Harbour Deli" } }, ["event", "properties"])), "groupId is null")
  add("too_large", j(base({ properties: { note: "coffee ".repeat(4800) } })), "over the 32 KB limit of one message")
  add("integer_too_large", j(base({ properties: { order_id: "X" } })).replace('"order_id":"X"', '"order_id":98765432109876543210'), "an integer beyond 2^53 would lose digits: send it as a string")
  add("number_out_of_range", j(base({ properties: { total: "X" } })).replace('"total":"X"', '"total":1e400'), "a number too large to store")
  add("number_too_precise", j(base({ properties: { weight_kg: "X" } })).replace('"weight_kg":"X"', '"weight_kg":0.25000000000000000000001'), "more digits than a double keeps")
  let deep: unknown = { roast: "dark" }
  for (let i = 0; i < 120; i++) deep = { nested: deep }
  add("too_deep", j(base({ properties: deep })), "objects nested more than 100 levels deep")
  add("lone_surrogate", j(base({ properties: { review: "X" } })).replace('"review":"X"', '"review":"great coffee \\ud83d"'), "half of a UTF-16 surrogate pair (a cut emoji)")
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// The whole sample

/** Every file of the sample, by name, with its text. Pure: the same call gives the same bytes. */
export const generateSample = (): ReadonlyMap<string, string> => {
  usPhones = 0
  ukPhones = 0
  const r = new Rng(SEED)
  const web = new Web(r)
  const people: Array<Person> = []
  const emails = new Set<string>()
  // The first few who sign up use every channel, so one profile shows a person across all of them.
  let regulars = 0
  const live = (): number => web.messages.length
  while (true) {
    const p = makePerson(r)
    const mark = live()
    const firstVisit = momentIn(r, 0, DAYS - 3)
    const visits = r.pick([1, 1, 1, 2, 2, 3])
    const signsUp = r.chance(0.35)
    const subscribes = signsUp ? r.chance(0.7) : r.chance(0.12)
    const regular = signsUp && regulars < 6
    if (signsUp || subscribes) {
      p.email = emailFor(r, p, emails)
      p.emailTyped = r.chance(0.15) ? ` ${p.email.replace(/^./, (c) => c.toUpperCase())} ` : p.email
    }
    if (signsUp && (regular || r.chance(0.6))) p.phone = phoneFor(r, p.country)
    if (signsUp && (regular || r.chance(0.3))) p.twitter = `${p.first}${p.last}`.toLowerCase().slice(0, 12) + r.range(1, 99)
    let consent: Consent | undefined = r.chance(0.8) ? p.consent : undefined
    let t = firstVisit
    const signUpVisit = signsUp ? r.int(visits) : -1
    for (let v = 0; v < (regular ? visits + 2 : visits); v++) {
      if (v > 0) t += r.range(2, 40) * HOUR
      if (t > START + DAYS * DAY - HOUR) break
      const signUp = v === signUpVisit ? (at: number) => web.signUp(p, at, (consent ??= p.consent), subscribes) : undefined
      t = web.visit(p, t, { consent, orderRate: p.userId !== undefined || signUp !== undefined ? 0.6 : 0.1, ...(signUp === undefined ? {} : { signUp }) })
      if (!signsUp && subscribes && v === 0) t = web.newsletterOnly(p, t, consent)
      if (p.userId !== undefined && v === visits - 1 && r.chance(0.08)) {
        consent = { ...p.consent, Advertising: false, SocialListening: r.chance(0.5) }
        web.consentChanged(p, t + 2 * MINUTE, consent)
      }
    }
    if (p.userId !== undefined && r.chance(0.06)) web.alias(p, t + r.range(1, 48) * HOUR, r.uuid())
    if (live() > WEB_MESSAGES) {
      web.messages.length = mark
      break
    }
    if (regular) regulars++
    p.regular = regular
    people.push(p)
  }
  // Visitors who saw one page and left fill the sample up to its fixed size.
  while (live() < WEB_MESSAGES) web.visit(makePerson(r), momentIn(r, 0, DAYS - 1), { consent: undefined, orderRate: 0 })
  web.messages.length = WEB_MESSAGES
  web.messages.sort((a, b) => (a["timestamp"] as string).localeCompare(b["timestamp"] as string) || (a["messageId"] as string).localeCompare(b["messageId"] as string))

  const known = people.filter((p) => p.email !== undefined)
  const withPhone = people.filter((p) => p.phone !== undefined)
  const mails: Array<string> = []
  const chats: Array<Json> = []
  const calls: Array<string> = []
  for (const p of known) {
    if (p.regular || r.chance(0.1)) mails.push(supportMail(r, p, momentIn(r, 2, DAYS - 1), moodOf(r), r.chance(0.3)))
  }
  for (const p of people) {
    if (p.regular || r.chance(p.email !== undefined ? 0.15 : 0.04)) chats.push(chatTranscript(r, p, momentIn(r, 1, DAYS - 1), moodOf(r)))
  }
  for (const p of withPhone) {
    if (p.regular || r.chance(0.4)) calls.push(callRow(r, p, momentIn(r, 1, DAYS - 1), moodOf(r)))
  }
  for (let i = 0; i < 6; i++) calls.push(callRow(r, undefined, momentIn(r, 0, DAYS - 1), moodOf(r)))
  const byStart = (a: string, b: string) => a.split(",")[1]!.localeCompare(b.split(",")[1]!)
  chats.sort((a, b) => (a["started_at"] as string).localeCompare(b["started_at"] as string))
  const broken = brokenMessages(r)

  const ndjson = (rows: ReadonlyArray<unknown>) => rows.map((m) => JSON.stringify(m)).join("\n") + "\n"
  const sendgrid = sendgridEvents(r, people)
  const files = new Map<string, string>()
  files.set("web.ndjson", ndjson(web.messages))
  files.set("invalid.ndjson", broken.map((b) => b.line).join("\n") + "\n")
  files.set("email-events.json", `[\n${sendgrid.map((e) => JSON.stringify(e)).join(",\n")}\n]\n`)
  files.set("support.mbox", mails.sort((a, b) => Date.parse(a.split("\nDate: ")[1]!.split("\n")[0]!) - Date.parse(b.split("\nDate: ")[1]!.split("\n")[0]!)).join("\n"))
  files.set("chat.ndjson", ndjson(chats))
  files.set("calls.csv", `call_id,started_at,duration_s,direction,phone,agent,queue,outcome,notes\r\n${calls.sort(byStart).join("\r\n")}\r\n`)
  files.set("tweets.json", JSON.stringify(tweetPages(r, people), null, 1) + "\n")
  files.set("reviews.ndjson", ndjson(reviews(r)))
  files.set("README.md", readme(broken))
  return files
}

const readme = (broken: ReadonlyArray<Broken>): string => `# The demo sample

Written by \`node ingest/samples/generate.ts\` (do not edit these files by hand: change the generator and run it).
Four weeks (${iso(START).slice(0, 10)} to ${iso(START + (DAYS - 1) * DAY).slice(0, 10)}) of ${BRAND.name}, a coffee
roaster that does not exist: its web shop (${BRAND.site}), newsletters, support mailbox, chat, phone line, X account
(@${BRAND.handle}) and reviews. Every person, address, number and text is invented: domains are reserved
(\`.example\`, \`example.com\`), phone numbers are fiction ranges (US 555-01xx, UK 020 7946 0xxx and 07700 900xxx), IP
addresses are documentation ranges (RFC 5737). \`cdp demo\` lands every file below in a fresh data dir.

| file | \`cdp ingest --source\` | what |
|---|---|---|
${SAMPLE_FILES.map((f) => `| \`${f.file}\` | \`${f.source}\` | ${f.what} |`).join("\n")}

Some people sign up on the web shop (an \`identify\` with their e-mail, often a phone number and an X handle) and then
appear on other channels: newsletters and order mails to that address, a chat from the same browser, a call from
that number, a tweet from that handle, a mail to support. Identity resolution joins them into one profile.

## invalid.ndjson, line by line

Each line has one defect; \`cdp demo\` shows them in \`dead_letters\` with the rule that refused them.

| line | rule | what is wrong |
|---|---|---|
${broken.map((b, i) => `| ${i + 1} | \`${b.rule}\` | ${b.why.replace(/\|/g, "\\|")} |`).join("\n")}
`

/** The rule that refuses each line of invalid.ndjson, in line order (what the README's table states). */
export const invalidRules = (): ReadonlyArray<string> => brokenMessages(new Rng(SEED)).map((b) => b.rule)

if (import.meta.main) {
  const dir = process.argv[2] ?? fileURLToPath(new URL(".", import.meta.url))
  const files = generateSample()
  for (const [name, text] of files) writeFileSync(join(dir, name), text)
  process.stdout.write(`wrote ${[...files.keys()].join(", ")} in ${dir}\n`)
}
