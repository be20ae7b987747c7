// Identifiers to one comparable form per kind, so the same person's e-mail typed three ways links once. The raw
// value is kept beside the normalised one for display; what cannot be normalised is refused with its reason.
import { createRequire } from "node:module"
import { domainToASCII } from "node:url"
import type { CountryCode, PhoneNumber } from "libphonenumber-js/max"

const requireCjs = createRequire(import.meta.url)
let phoneLibrary: typeof import("libphonenumber-js/max") | undefined
/** libphonenumber-js with its full metadata (about a hundred modules), loaded with the first phone or region read. */
export const phoneNumbers = (): typeof import("libphonenumber-js/max") =>
  phoneLibrary ??= requireCjs("libphonenumber-js/max") as typeof import("libphonenumber-js/max")

/**
 * Why `code` is not a region phone numbers can be read in (a two-letter code with a numbering plan), or undefined.
 * CDP_PHONE_REGIONS and the identity rules' phoneRegions read their regions through it.
 */
export const phoneRegionRefusal = (code: string): string | undefined =>
  /^[A-Za-z]{2}$/.test(code) && phoneNumbers().isSupportedCountry(code.toUpperCase()) ? undefined
    : `"${code}" is not a two-letter country code with a phone numbering plan${code.toUpperCase() === "UK" ? " (the United Kingdom's is GB)" : ""}`

export type IdentifierKind =
  | "user_id" | "anonymous_id" | "email" | "phone" | "twitter_id" | "twitter_handle" | "social_handle"
  | "chat_visitor_id" | "device_id" | "external_id"

export const IDENTIFIER_KINDS: ReadonlySet<IdentifierKind> = new Set<IdentifierKind>([
  "user_id", "anonymous_id", "email", "phone", "twitter_id", "twitter_handle", "social_handle", "chat_visitor_id",
  "device_id", "external_id",
])

/** How a mail provider lets one mailbox take several spellings. */
export interface MailboxRule {
  /** Dots in the local part are ignored (Gmail). */
  readonly ignoreDots?: boolean
  /** A `+tag` (or this separator) after the local part is ignored. */
  readonly subaddressSeparator?: string
  /** The domain every alias domain of the provider is written as. */
  readonly canonicalDomain?: string
}

export interface NormaliseOptions {
  /** Per domain (lower-case, ASCII), how its mailboxes are spelled; empty to compare addresses as typed. */
  readonly mailboxRules: Readonly<Record<string, MailboxRule>>
  /**
   * Regions tried in order for national phone numbers ("07700 900123" is GB, "(415) 555-0134" US): the first valid
   * reading wins. Without any, national numbers are refused.
   */
  readonly phoneRegions?: ReadonlyArray<string> | undefined
}

/**
 * Providers' documented rules: Gmail ignores dots and `+tags` and answers on googlemail.com too; Outlook, iCloud and
 * Fastmail deliver `+tag` addresses to the plain mailbox. Configurable per tenant (identity configuration).
 */
export const DEFAULT_MAILBOX_RULES: Readonly<Record<string, MailboxRule>> = {
  "gmail.com": { ignoreDots: true, subaddressSeparator: "+", canonicalDomain: "gmail.com" },
  "googlemail.com": { ignoreDots: true, subaddressSeparator: "+", canonicalDomain: "gmail.com" },
  "outlook.com": { subaddressSeparator: "+" },
  "hotmail.com": { subaddressSeparator: "+" },
  "live.com": { subaddressSeparator: "+" },
  "icloud.com": { subaddressSeparator: "+" },
  "me.com": { subaddressSeparator: "+", canonicalDomain: "icloud.com" },
  "mac.com": { subaddressSeparator: "+", canonicalDomain: "icloud.com" },
  "fastmail.com": { subaddressSeparator: "+" },
}

export const DEFAULT_NORMALISE_OPTIONS: NormaliseOptions = { mailboxRules: DEFAULT_MAILBOX_RULES }

export type Normalised =
  | { readonly ok: true; readonly value: string }
  | { readonly ok: false; readonly reason: string }

const accept = (value: string): Normalised => ({ ok: true, value })
const refuse = (reason: string): Normalised => ({ ok: false, reason })

// Local part: printable ASCII or any non-ASCII letter (RFC 6531), no spaces, no angle brackets, no control characters.
const LOCAL_PART = /^[^\s@<>()[\]\\,;:"\u0000-\u001f\u007f-\u009f]+$/u
const DOMAIN_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/
const URL_HOST_SYNTAX = /[/?#\\%\s\u0000-\u001f\u007f]/u

const normaliseEmail = (raw: string, options: NormaliseOptions): Normalised => {
  let text = raw.trim().replace(/^mailto:/i, "")
  const angle = /<([^<>]*)>\s*$/.exec(text)
  if (angle !== null) text = angle[1]!.trim()
  const at = text.lastIndexOf("@")
  if (at <= 0 || at === text.length - 1) return refuse("an e-mail address needs a local part, @ and a domain")
  let local = text.slice(0, at).normalize("NFC").toLowerCase()
  if (!LOCAL_PART.test(local)) return refuse("the part before @ holds characters an address cannot have")
  const domainText = text.slice(at + 1)
  // domainToASCII reads a URL's host: it would stop at / ? # \, decode %2e and drop tabs, reading another address.
  if (URL_HOST_SYNTAX.test(domainText)) return refuse("the domain is not a valid host name")
  const domain = domainToASCII(domainText.toLowerCase().replace(/\.$/, ""))
  if (domain === "" || !domain.includes(".") || !domain.split(".").every((label) => DOMAIN_LABEL.test(label))) {
    return refuse("the domain is not a valid host name")
  }
  const rule = options.mailboxRules[domain]
  if (rule?.subaddressSeparator !== undefined) {
    const cut = local.indexOf(rule.subaddressSeparator)
    if (cut >= 0) local = local.slice(0, cut)
  }
  if (rule?.ignoreDots) local = local.replaceAll(".", "")
  if (local === "") return refuse("the part before @ is empty once the provider's rules are applied")
  return accept(`${local}@${rule?.canonicalDomain ?? domain}`)
}

/** Anything beyond ASCII: only such values pay for Unicode normalisation. */
const NON_ASCII = /[^\u0000-\u007f]/

/**
 * Compatibility forms to their plain characters: full-width digits, "＋" and "＠", as a CJK input method types them,
 * are the same number or handle as the ASCII ones.
 */
const compatible = (raw: string): string => (NON_ASCII.test(raw) ? raw.normalize("NFKC") : raw)

const NON_DIGITS = /\D/g
const REPEATED_DIGIT = /^(\d)\1+$/

/**
 * E.164 of a phone number as written: `+…` and `00…` are international; otherwise each configured region in turn,
 * then the digits as international (`447700900123`). The first valid reading wins; failing that, the first reading
 * of a possible length (fiction and newly issued ranges are not "valid"), unless it is one digit repeated.
 */
export const phoneToE164 = (raw: string, regions: ReadonlyArray<CountryCode>): string | undefined => {
  const text = compatible(raw).trim()
  const readings: Array<PhoneNumber> = []
  const consider = (candidate: PhoneNumber | undefined): boolean => {
    if (candidate === undefined) return false
    if (candidate.isValid()) return true
    readings.push(candidate)
    return false
  }
  if (text.startsWith("+") || text.startsWith("00")) {
    const international = phoneNumbers().parsePhoneNumberFromString(text.startsWith("+") ? text : `+${text.slice(2)}`)
    if (consider(international)) return international!.number
  } else {
    for (const region of regions) {
      const national = phoneNumbers().parsePhoneNumberFromString(text, { defaultCountry: region })
      if (consider(national)) return national!.number
    }
    const bare = phoneNumbers().parsePhoneNumberFromString(`+${text.replace(NON_DIGITS, "")}`)
    if (consider(bare)) return bare!.number
  }
  for (const reading of readings) {
    if (reading.isPossible() && !REPEATED_DIGIT.test(reading.nationalNumber)) return reading.number
  }
  return undefined
}

const normalisePhone = (typed: string, options: NormaliseOptions): Normalised => {
  const raw = compatible(typed)
  if (!/\d/.test(raw)) return refuse("a phone number needs digits")
  const regions = (options.phoneRegions ?? []).filter((r): r is CountryCode => phoneNumbers().isSupportedCountry(r))
  const e164 = phoneToE164(raw, regions)
  if (e164 !== undefined) return accept(e164)
  const international = raw.trim().startsWith("+") || raw.trim().startsWith("00")
  return refuse(!international && regions.length === 0
    ? "a national phone number needs a region (configure phone regions) or a +country code"
    : "not a possible phone number")
}

/** A profile's address on X (people paste it into a form's handle field): x.com/NAME, https://twitter.com/NAME/. */
const X_PROFILE_URL = /^(?:https?:\/\/)?(?:(?:www|mobile)\.)?(?:x|twitter)\.com\/([^/?#]*)\/?(?:[?#].*)?$/i
/** First path segments of X's own pages, never a person's profile. */
const X_ROUTES = new Set(["i", "home", "explore", "search", "intent", "share", "hashtag", "settings", "notifications", "messages", "login", "signup", "tos", "privacy"])

/** A handle without its @, case-folded (X handles are case-insensitive); also read from the profile's URL. */
const normaliseHandle = (typed: string): Normalised => {
  const raw = compatible(typed)
  const url = X_PROFILE_URL.exec(raw.trim())
  if (url === null && /^(?:https?:\/\/)?(?:(?:www|mobile)\.)?(?:x|twitter)\.com\//i.test(raw.trim())) {
    return refuse("an X address names a handle only as x.com/HANDLE (this one is a post or another page)")
  }
  if (url !== null && X_ROUTES.has(url[1]!.toLowerCase())) return refuse(`x.com/${url[1]} is a page of X, not a profile`)
  const handle = (url === null ? raw.trim() : url[1]!).replace(/^@/, "").toLowerCase()
  return /^[a-z0-9_]{1,50}$/.test(handle) ? accept(handle) : refuse("a handle is letters, digits and _ (at most 50)")
}

/** "network:handle", both case-folded. */
const normaliseSocialHandle = (raw: string): Normalised => {
  const colon = raw.indexOf(":")
  if (colon <= 0) return refuse("a social handle is written network:handle")
  const network = raw.slice(0, colon).trim().toLowerCase()
  const handle = raw.slice(colon + 1).trim().replace(/^@/, "").toLowerCase()
  if (CONTROL.test(raw)) return refuse("a handle may not hold control characters")
  return handle === "" || /\s/.test(handle) ? refuse("the handle after network: is empty or has spaces") : accept(`${network}:${handle}`)
}

const MAX_LENGTH = 512

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/** Opaque ids (user ids, cookies, device ids): compared exactly, only surrounding spaces removed. */
const normaliseOpaque = (raw: string): Normalised => {
  const value = raw.trim()
  if (value === "") return refuse("the value is empty")
  if (CONTROL.test(value)) return refuse("an id may not hold control characters")
  if (value.length > 512) return refuse("an id may be at most 512 characters")
  return accept(value)
}

export const normaliseIdentifier = (kind: IdentifierKind, raw: string, options: NormaliseOptions = DEFAULT_NORMALISE_OPTIONS): Normalised => {
  if (raw.length > MAX_LENGTH) return refuse(`an identifier may be at most ${MAX_LENGTH} characters`)
  switch (kind) {
    case "email":
      return normaliseEmail(raw, options)
    case "phone":
      return normalisePhone(raw, options)
    case "twitter_handle":
      return normaliseHandle(raw)
    case "social_handle":
      return normaliseSocialHandle(raw)
    case "twitter_id":
      return /^\d{1,20}$/.test(raw.trim()) ? accept(raw.trim()) : refuse("an X/Twitter id is a number")
    default:
      return normaliseOpaque(raw)
  }
}
