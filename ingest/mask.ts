// E-mail addresses and phone numbers masked for readers without profiles:identifiers: in free text (the listening
// report, ingest/listening-route.ts) and in every answer of the profile routes (the profile, its timeline pages, its
// identifier pages), which the API guard (ingest/auth.ts) masks for a marketer. Senders write these texts, so the
// work must stay linear in their length: one regular expression over the whole text for addresses backtracks over
// every start of a long word that holds none (18 s for a 50,000-character author name, the event loop held).
import { Effect } from "effect"

export const MASK = "[masked]"

/** What separates the words of a text that may hold e-mail addresses. */
const WORD_GAPS = /([\s<>()"',;:[\]]+)/
/** A domain: a dot with a character on each side. */
const DOMAIN = /.\../

/** In one word, each "local@domain" masked (a leading "@" of a handle stays): "@mail@x.example" is "@[masked]". */
const maskInWord = (word: string) => {
  const parts = word.split("@")
  const out: Array<string> = []
  for (let i = 0; i < parts.length; i++) {
    const next = parts[i + 1]
    if (next !== undefined && parts[i] !== "" && DOMAIN.test(next)) {
      out.push(MASK)
      i++
    } else {
      out.push(parts[i]!)
    }
  }
  return out.join("@")
}

/** Every e-mail address in a text masked, word by word. */
export const maskAddresses = (text: string): string =>
  text.includes("@") ? text.split(WORD_GAPS).map((word, i) => (i % 2 === 0 ? maskInWord(word) : word)).join("") : text

/** A run that may be a phone number, written with the separators people type (7 or more digits make it one). */
export const PHONE_LIKE = /\+?\d[\d ().-]{5,}\d/g

/** A phone-like run written with a leading +: masked for every reader without profiles:identifiers, whoever's it is. */
const PLUS_PHONE = /\+\d[\d ().-]{5,}\d/

/**
 * Whether a filter's text holds what a masked answer never shows (an e-mail address, a number written with +): a
 * masked reader filtering by it would learn whether the hidden value is there.
 */
export const holdsAlwaysMasked = (text: string): boolean => maskAddresses(text) !== text || PLUS_PHONE.test(text)

// ---------------------------------------------------------------------------------------------------------------
// The profile routes' answers.

/** Identifier kinds a marketer sees only when the read's purpose is consented (or with profiles:identifiers). */
export const MASKED_KINDS: ReadonlySet<string> = new Set(["email", "phone"])
/** Names of traits (and of keys inside any value) whose values are masked whole. */
const MASKED_TRAIT = /e-?mail|phone|mobile/i
/** Whether a trait or key of this name has its values masked whole (an e-mail address, a phone). */
export const namedForIdentifier = (name: string): boolean => MASKED_TRAIT.test(name)
/** The purpose a marketer's profile read serves unless ?purpose= names another of the tenant's purposes. */
export const DEFAULT_READ_PURPOSE = "Personalization"

/** Digits without a trunk prefix or leading zeros: "020 7946 0958" and "+44 20 7946 0958" end alike. */
const phoneDigits = (text: string) => text.replace(/\D/g, "").replace(/^0+/, "")
const MIN_PHONE_DIGITS = 7
/** Most digit runs one answer asks the warehouse about; past it every run is masked (a forged answer of 10 MB). */
const MAX_PHONE_RUNS = 2000
/** Runs asked per statement (a ClickHouse server takes parameters in the URL). */
const PHONE_RUNS_PER_QUERY = 500

/**
 * Which of some digit runs (phoneDigits of phone-like text, 7 or more) are the person's phone numbers. The route that
 * made an answer gives it (withTheirPhones): it asks the warehouse, so all of the person's phones count, not only the
 * page of identifiers the answer shows (a profile may have 100,000 identifiers; the answer never holds them all).
 */
export type TheirPhones = (runs: ReadonlyArray<string>) => Effect.Effect<ReadonlySet<string>>

const theirPhonesOf = new WeakMap<object, TheirPhones>()

/**
 * `body`, with how to tell the person's phones among its digit runs should a guard mask it; an answer without one is
 * masked as if every such run were theirs.
 */
export const withTheirPhones = <B extends object>(body: B, lookup: TheirPhones): B => {
  theirPhonesOf.set(body, lookup)
  return body
}

interface Identifier {
  readonly kind: string
  readonly value: string
  readonly raw: string
}

interface ProfileBody {
  identifiers: ReadonlyArray<Identifier>
  traits: Record<string, { value: unknown }>
  computedTraits?: Record<string, { value: unknown }>
  merges: ReadonlyArray<object>
  recentEvents?: ReadonlyArray<object>
  timeline?: { events: ReadonlyArray<object>; nextCursor: string | null }
  consent: { purposes: ReadonlyArray<{ purpose: string; allowed: boolean }> }
}

/** Fields of the rows an answer is made of (events, merges, identifiers, traits) that hold times the engine wrote. */
const ROW_TIMES = new Set(["timestamp", "at", "firstSeen", "lastSeen"])

/** Every string and number (keys too) of a value. */
const eachText = (value: unknown, visit: (text: string) => void): void => {
  if (typeof value === "string") visit(value)
  else if (typeof value === "number") visit(String(value))
  else if (Array.isArray(value)) for (const v of value) eachText(v, visit)
  else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      visit(k)
      eachText(v, visit)
    }
  }
}

/** Every text of some rows but their times (a time is no phone number; a sender's nested "at" is searched). */
const eachRowText = (rows: ReadonlyArray<object>, visit: (text: string) => void): void => {
  for (const row of rows) for (const [k, v] of Object.entries(row)) if (!(ROW_TIMES.has(k) && typeof v === "string")) eachText(v, visit)
}

/** The digit runs of phone-like text in `rows` whose owner is not plain without asking (a leading + is masked anyway). */
const phoneRuns = (rows: ReadonlyArray<object>): Set<string> => {
  const runs = new Set<string>()
  eachRowText(rows, (text) => {
    for (const m of text.matchAll(PHONE_LIKE)) {
      const digits = phoneDigits(m[0])
      if (digits.length >= MIN_PHONE_DIGITS && !m[0].startsWith("+")) runs.add(digits)
    }
  })
  return runs
}

/**
 * Masks, in a value of any shape, what shows an e-mail address or a phone number of the person: their identifiers
 * anywhere in a text (any case), any e-mail address, any number written with a leading +, a number written with the
 * digits of one of their phones (`theirs`, or one among `identifiers`; a run nobody asked about counts as theirs),
 * and the values of keys named for them (a trait holding {"contact": {"email": ...}} hides it too).
 */
const makeMasker = (identifiers: ReadonlyArray<Identifier>, asked: ReadonlySet<string>, theirs: ReadonlySet<string>) => {
  const secrets = new Set<string>()
  const phones: Array<string> = []
  for (const i of identifiers) {
    if (!MASKED_KINDS.has(i.kind)) continue
    for (const text of [i.value, i.raw]) {
      if (text !== "" && text !== MASK) secrets.add(text.toLowerCase())
      if (i.kind === "phone" && phoneDigits(text).length >= MIN_PHONE_DIGITS) phones.push(phoneDigits(text))
    }
  }
  const pattern = [...secrets].map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")
  // Compiled per masked read only (a page of identifiers); case-insensitive as addresses are.
  const found = pattern === "" ? undefined : new RegExp(pattern, "gi")
  const isTheirPhone = (run: string) => {
    const digits = phoneDigits(run)
    if (digits.length < MIN_PHONE_DIGITS) return false
    return run.startsWith("+") || theirs.has(digits) || !asked.has(digits) || phones.some((p) => p.endsWith(digits) || digits.endsWith(p))
  }
  const scrub = (text: string) =>
    maskAddresses(found === undefined ? text : text.replace(found, MASK)).replace(PHONE_LIKE, (run) => (isTheirPhone(run) ? MASK : run))
  const mask = (value: unknown): unknown => {
    if (typeof value === "string") return scrub(value)
    if (typeof value === "number") return isTheirPhone(String(value)) ? MASK : value
    if (Array.isArray(value)) return value.map(mask)
    if (value === null || typeof value !== "object") return value
    // fromEntries keeps a key named "__proto__" as a key (assigning it would set the object's prototype).
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [scrub(k), MASKED_TRAIT.test(k) ? MASK : mask(v)]))
  }
  /** Rows the engine made (events, merges): every field masked but their times. */
  const maskRows = (rows: ReadonlyArray<object>) =>
    rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, ROW_TIMES.has(k) && typeof v === "string" ? v : mask(v)])))
  /** An identifier: of a masked kind whole; of another kind (a user id that is an address) as text. */
  const identifier = <I extends Identifier>(i: I): I =>
    MASKED_KINDS.has(i.kind) ? { ...i, value: MASK, raw: MASK } : { ...i, value: scrub(i.value), raw: scrub(i.raw) }
  return { scrub, mask, maskRows, identifier }
}

/**
 * Values of no one person (a computed trait previewed over many profiles) as a reader without profiles:identifiers
 * sees them: every e-mail address and every phone-like number masked, and the values of keys named for them.
 */
export const maskValues = (values: ReadonlyArray<unknown>): Array<unknown> => values.map(makeMasker([], new Set(), new Set()).mask)

/** A masker for the rows of `body` to mask: the phones among their digit runs asked about once, in the warehouse. */
const maskerFor = (body: object, identifiers: ReadonlyArray<Identifier>, rows: ReadonlyArray<object>) =>
  Effect.gen(function* () {
    const pagePhones = identifiers.filter((i) => i.kind === "phone").flatMap((i) => [phoneDigits(i.value), phoneDigits(i.raw)]).filter((d) => d.length >= MIN_PHONE_DIGITS)
    const runs = [...phoneRuns(rows)].filter((d) => !pagePhones.some((p) => p.endsWith(d) || d.endsWith(p)))
    const lookup = theirPhonesOf.get(body)
    // Not asked (no lookup, or too many runs): every run counts as theirs.
    if (runs.length === 0 || lookup === undefined || runs.length > MAX_PHONE_RUNS) return makeMasker(identifiers, new Set(), new Set())
    const theirs = new Set<string>()
    for (let i = 0; i < runs.length; i += PHONE_RUNS_PER_QUERY) {
      for (const run of yield* lookup(runs.slice(i, i + PHONE_RUNS_PER_QUERY))) theirs.add(run)
    }
    return makeMasker(identifiers, new Set(runs), theirs)
  })

/**
 * A profile with the person's e-mail addresses and phone numbers masked unless `purpose` is allowed for them: in its
 * identifiers (of every kind), traits and computed traits (named for them, or holding one anywhere in their value),
 * merges, recent events and timeline (event names, message ids and every other text).
 */
const maskProfile = (body: ProfileBody, purpose: string): Effect.Effect<Record<string, unknown>> =>
  Effect.gen(function* () {
    // A purpose the profile's consent does not list can only be the default one (the profile route refuses a ?purpose=
    // that is none of the tenant's before reading), at a tenant without it: nobody consented to it, so all is masked.
    const state = body.consent.purposes.find((p) => p.purpose === purpose)
    if (state?.allowed === true) return { ...body, masked: { purpose, kinds: [] } }
    const traits = { ...body.traits, ...body.computedTraits }
    const rows: ReadonlyArray<object> = [
      ...body.identifiers, ...Object.values(traits), { names: Object.keys(traits) },
      ...body.merges, ...(body.recentEvents ?? []), ...(body.timeline?.events ?? []),
    ]
    const { scrub, mask, maskRows, identifier } = yield* maskerFor(body, body.identifiers, rows)
    const maskAll = <T extends { value: unknown }>(traits: Record<string, T>) =>
      Object.fromEntries(Object.entries(traits).map(([name, t]) => [scrub(name), { ...t, value: MASKED_TRAIT.test(name) ? MASK : mask(t.value) }]))
    return {
      ...body,
      identifiers: body.identifiers.map(identifier),
      traits: maskAll(body.traits),
      ...(body.computedTraits === undefined ? {} : { computedTraits: maskAll(body.computedTraits) }),
      merges: maskRows(body.merges),
      ...(body.recentEvents === undefined ? {} : { recentEvents: maskRows(body.recentEvents) }),
      ...(body.timeline === undefined ? {} : { timeline: { ...body.timeline, events: maskRows(body.timeline.events) } }),
      masked: { purpose, kinds: [...MASKED_KINDS] },
    }
  })

/** The answer of a profile route ("profile", its timeline's "events" or its "identifiers" page), masked. */
export type ProfilePage = "profile" | "events" | "identifiers"

/**
 * An answer of the profile routes as a reader without profiles:identifiers may see it. The profile is masked unless
 * the read's purpose is consented for the person (a purpose the tenant has not is consented by nobody); a timeline or
 * identifiers page carries no consent, so it is masked whatever the purpose. Cursors are left as they are: the guard
 * seals them, since they name what they continue after (an identifier, a message id).
 */
export const maskProfileAnswer = (page: ProfilePage, body: unknown, purpose: string): Effect.Effect<Record<string, unknown>> =>
  Effect.gen(function* () {
    if (page === "profile") return yield* maskProfile(body as ProfileBody, purpose)
    if (page === "identifiers") {
      const b = body as { identifiers: ReadonlyArray<Identifier> }
      const { identifier } = yield* maskerFor(b, b.identifiers, b.identifiers)
      return { ...b, identifiers: b.identifiers.map(identifier) }
    }
    const b = body as { events: ReadonlyArray<object> }
    const { maskRows } = yield* maskerFor(b, [], b.events)
    return { ...b, events: maskRows(b.events) }
  })
