// What a text is about (product, delivery, returns, price, support, app/website, plus a tenant's own topics),
// matched on Porter stems so "delivered", "deliveries" and "delivery" are one keyword.
import { stem, tokenizeWords } from "./natural.ts"

/** Aspect name → keywords and phrases that mention it. */
export type AspectTaxonomy = Readonly<Record<string, ReadonlyArray<string>>>

export const DEFAULT_ASPECTS: AspectTaxonomy = {
  product: [
    "product", "item", "quality", "material", "fabric", "size", "sizing", "fit", "color", "colour", "stitching",
    "seam", "zipper", "zip", "button", "design", "style", "shirt", "jacket", "coat", "shoe", "boot", "sneaker",
    "dress", "pants", "trousers", "jeans", "shorts", "sweater", "hoodie", "bag", "backpack", "tent", "sleeping bag",
    "durability", "sole", "lining", "waterproof", "battery", "screen",
  ],
  delivery: [
    "delivery", "deliver", "shipping", "ship", "shipment", "package", "parcel", "courier", "arrive", "arrival",
    "tracking", "dispatch", "postage", "carrier", "ups", "fedex", "dhl", "usps", "transit", "order status",
    "never arrived", "late delivery", "in the mail", "doorstep",
  ],
  returns: [
    "return", "refund", "exchange", "money back", "rma", "store credit", "return label", "send back", "sent back",
    "restocking",
  ],
  price: [
    "price", "cost", "expensive", "cheap", "overpriced", "pricey", "value", "value for money", "discount", "sale",
    "coupon", "promo", "deal", "affordable", "fee", "bargain", "overcharged", "charged", "paid", "pay", "money",
  ],
  support: [
    "support", "customer service", "service", "agent", "representative", "rep", "staff", "helpdesk", "help desk",
    "live chat", "chat", "call", "phone", "hotline", "response", "reply", "manager", "email", "ticket", "complaint",
    "customer care", "associate",
  ],
  app: [
    "app", "website", "site", "web site", "checkout", "login", "log in", "sign in", "account", "page", "cart",
    "password", "crash", "bug", "online store", "mobile app", "browser", "search", "filter",
  ],
}

interface AspectPhrase {
  readonly rest: ReadonlyArray<string>
  readonly aspect: number
}

/** A taxonomy compiled to stem lookups; build once per tenant, reuse for every text. */
export interface CompiledAspects {
  readonly names: ReadonlyArray<string>
  readonly words: ReadonlyMap<string, ReadonlyArray<number>>
  readonly phrases: ReadonlyMap<string, ReadonlyArray<AspectPhrase>>
}

/**
 * Compiles the default aspects plus a tenant's own (a tenant aspect with a default name adds keywords to it).
 * Keywords are tokenized with natural's word tokenizer and stemmed with its Porter stemmer.
 */
export const compileAspects = (extra?: AspectTaxonomy, includeDefaults = true): CompiledAspects => {
  const names: string[] = []
  const words = new Map<string, number[]>()
  const phrases = new Map<string, AspectPhrase[]>()
  const add = (taxonomy: AspectTaxonomy): void => {
    for (const [name, keywords] of Object.entries(taxonomy)) {
      let aspect = names.indexOf(name)
      if (aspect < 0) aspect = names.push(name) - 1
      for (const keyword of keywords) {
        const stems = tokenizeWords(keyword).map(stem)
        const head = stems[0]
        if (head === undefined) continue
        if (stems.length === 1) {
          const list = words.get(head) ?? []
          if (!list.includes(aspect)) list.push(aspect)
          words.set(head, list)
        } else {
          const list = phrases.get(head) ?? []
          list.push({ rest: stems.slice(1), aspect })
          phrases.set(head, list)
        }
      }
    }
  }
  if (includeDefaults) add(DEFAULT_ASPECTS)
  if (extra !== undefined) add(extra)
  return { names, words, phrases }
}

export const defaultAspects: CompiledAspects = compileAspects()

/**
 * Calls `found(aspect, first, last)` for every mention in a sequence of stems (`undefined` where a token is not a
 * word). Phrases are tried before single words so "customer service" is one mention.
 */
export const findAspects = (
  stems: ReadonlyArray<string | undefined>,
  count: number,
  compiled: CompiledAspects,
  found: (aspect: number, first: number, last: number) => void,
): void => {
  for (let i = 0; i < count; i++) {
    const s = stems[i]
    if (s === undefined) continue
    const candidates = compiled.phrases.get(s)
    let end = -1
    if (candidates !== undefined) {
      for (const phrase of candidates) {
        const rest = phrase.rest
        let k = 0
        while (k < rest.length && i + 1 + k < count && stems[i + 1 + k] === rest[k]) k++
        if (k === rest.length) {
          found(phrase.aspect, i, i + k)
          end = Math.max(end, i + k)
        }
      }
    }
    if (end >= 0) {
      // The words inside a matched phrase are not mentions of their own ("service" in "customer service").
      i = end
      continue
    }
    const aspects = compiled.words.get(s)
    if (aspects !== undefined) for (const aspect of aspects) found(aspect, i, i)
  }
}
