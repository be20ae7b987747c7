// Our additions to VADER's human-rated lexicon, on its scale (-4..+4), each family with the reason it exists. They
// hold for any brand: a tenant's own product names and process words belong in its configuration (CDP_TERMS_FILE),
// never here. VADER's rating wins for a word it lists, except for the overrides of SERVICE_SENSES.

/**
 * Slang and initialisms of social posts that VADER's lexicon (2014) lacks. Valences follow VADER's rating of the
 * nearest word it does list ("luv" as "love", "trash" as "crap", "yikes" as "ugh").
 */
export const SLANG: Readonly<Record<string, number>> = {
  lols: 1.8, hehe: 1.5, yey: 2.4, grt: 2.5, luv: 2.9, faves: 1.9, amazeballs: 2.8, thanx: 1.5, tks: 1.5, tysm: 2.5,
  props: 1.2, shoutout: 1.2, legit: 1.2, dope: 1.6, epic: 2.0, awsome: 3.1, awesomesauce: 3.1, nice1: 1.8,
  coolio: 1.3, slay: 1.6, slays: 1.6, fml: -2.4, ughh: -1.8, argh: -1.6, grr: -1.6, yikes: -1.2, oof: -0.8,
  trash: -2.0, trashy: -1.6, garbage: -2.0, rip: -1.2, smdh: -2.0, gtfo: -2.4, scammy: -2.4, ripoff: -2.4,
}

/**
 * Words of buying, delivery and customer service that VADER lacks: defects, delays and their opposites. These are
 * what complaints and praise about any shop are made of.
 */
export const COMMERCE_WORDS: Readonly<Record<string, number>> = {
  malfunctioning: -2, malfunctioned: -2, unusable: -2.4, unwearable: -2.4, flimsy: -1.6, ripped: -1.6,
  frayed: -1.6, fraying: -1.6, unraveling: -1.6, unravelled: -1.6, unraveled: -1.6, shrank: -1.6, shrunk: -1.6,
  pilling: -1.2, stained: -1.2, dented: -1.2, cracked: -1.6, leaking: -1.6, leaky: -1.6, scratchy: -1.2,
  misprinted: -1.6, mislabeled: -1.2, counterfeit: -2.4, knockoff: -2, overpriced: -1.6, overcharged: -2,
  pricey: -0.8, unresponsive: -1.6, undelivered: -2, backordered: -0.8, runaround: -1.6, sturdy: 1.2, durable: 1.2,
  comfy: 1.6, cozy: 1.6, cosy: 1.6, affordable: 1.2, hassle: -1.2, unhelpful: -1.6, late: -1.2, slow: -1.2,
  escalated: -1.2, escalation: -1.2,
}

/**
 * VADER senses that mislead in customer service, set to neutral: "customer support", "customer care", "please
 * help", "I was charged" name a topic or make a request, and "the fit" of a product is an attribute, not fitness;
 * they are neither praise nor blame.
 */
export const SERVICE_SENSES: Readonly<Record<string, number>> = {
  support: 0, supported: 0, care: 0, charged: 0, charges: 0, please: 0, help: 0, helps: 0, fit: 0, fits: 0,
  // A size ("in size L"), a purchase order ("PO 4471"), a status ("label created", "ticket created"): VADER rates
  // "l" +2.0, "po" -2.6 (slang) and "created" +1.0.
  l: 0, po: 0, created: 0,
}

/**
 * Multi-word expressions whose meaning is not the sum of their words (matched on Porter stems). Complaints and
 * praise of buying anything: what did not arrive, what broke, what it was worth.
 */
export const COMMERCE_PHRASES: Readonly<Record<string, number>> = {
  "never arrived": -2.4, "never came": -2.4, "never received": -2.4, "never got it": -2.4, "never showed up": -2.4,
  "still waiting": -1.6, "still not here": -2, "lost in transit": -2, "lost package": -2, "late delivery": -1.6,
  "arrived late": -1.6, "delivered late": -1.6, "days late": -1.6, "weeks late": -2, "wrong item": -2,
  "wrong order": -2, "missing item": -2, "missing items": -2, "missing parts": -2, "item missing": -2,
  "came apart": -2, "fell apart": -2.4, "falling apart": -2.4, "stopped working": -2, "quit working": -2,
  "does not work": -2, "not working": -2, "poor quality": -2.4, "low quality": -2, "cheaply made": -2,
  "badly made": -2, "high quality": 2, "great quality": 2.4, "well made": 2, "well built": 2, "charged twice": -2,
  "charged me twice": -2, "charged us twice": -2, "billed twice": -2, "billed me twice": -2, "double charged": -2, "hidden fees": -1.6, "rip off": -2.4, "waste of money": -2.4, "waste of time": -2.4,
  "worth every penny": 2.4, "money back": -1.2, "no response": -1.6, "no reply": -1.6, "hung up": -1.6,
  "fast shipping": 1.6, "fast delivery": 1.6, "quick delivery": 1.6, "arrived quickly": 1.6, "arrived early": 1.6,
  "arrived on time": 1.2, "delivered on time": 1.2, "above and beyond": 2.4, "went the extra mile": 2.4,
  "five stars": 2.4, "one star": -2, "customer for life": 2.4, "never again": -2.4, "never buying": -2,
  "never ordering": -2, "do not buy": -2, "dont buy": -2, "don't buy": -2,
}

/**
 * Idioms in which a negation does not reverse the sentiment word: a negated comparative means the superlative
 * ("couldn't be happier"), a negated complaint is approval ("can't complain"), a negated wait is eagerness.
 */
export const IDIOMS: Readonly<Record<string, number>> = {
  "can't wait": 2, "cant wait": 2, "cannot wait": 2, "can not wait": 2, "couldn't be happier": 3,
  "could not be happier": 3, "couldn't be better": 2.8, "could not be better": 2.8, "never been better": 2.8,
  "can't complain": 1, "cant complain": 1, "no doubt": 0.8, "without a doubt": 1.2, "second to none": 2.8,
  "no problem": 0.8, "no worries": 0.8, "not a problem": 0.8, "not bad at all": 1.6,
  // VADER's own idioms (its SPECIAL_CASE_IDIOMS), whose words alone would say the opposite.
  "the shit": 3, "the bomb": 3, "bad ass": 1.5, "yeah right": -2, "kiss of death": -1.5, "to die for": 3,
  "beating heart": 3.1, "broken heart": -2.9,
}

/**
 * Phrases that look like sentiment or negation but are not: consumed and scored as nothing. Greetings and letter
 * formulas are courtesy whatever the message says ("good morning" is not praise); the rest are fixed expressions
 * whose words lose their own sense ("no matter", "at least", "would like").
 */
export const NEUTRAL_PHRASES: ReadonlyArray<string> = [
  "not only", "not just", "no matter", "nothing but", "as well", "pretty much", "of course", "at least", "even if",
  "as if", "would like", "no later than", "so far", "as far as", "i'd like", "id like", "i would like",
  "good morning", "good afternoon", "good evening", "good night", "thanks in advance", "thank you in advance",
  "kind regards", "best regards", "warm regards", "best wishes", "customer support", "customer care",
  "customer service", "tech support", "technical support",
]

/** Emoticons, matched as written (case-sensitive where it matters, e.g. ":D"); VADER's emoticons are added too. */
export const EMOTICON_VALENCES: ReadonlyArray<readonly [string, number]> = [
  [":)", 2], [":-)", 2], [":]", 2], ["=)", 2], [":o)", 2], [":')", 2], [":D", 2.3], [":-D", 2.3], ["=D", 2.3],
  [";)", 1.5], [";-)", 1.5], [";D", 2], [":P", 1], [":-P", 1], [":p", 1], [":-p", 1], [":b", 1], [":*", 2],
  [":-*", 2], ["<3", 2.5], ["<33", 2.5], ["<333", 2.5], ["^_^", 2], ["^^", 1.5], ["^.^", 2],
  [":(", -1.9], [":-(", -1.9], [":[", -1.9], ["=(", -1.9], [":'(", -2.2], [":'-(", -2.2], [":((", -2.2],
  [":(((", -2.5], [":/", -1], [":-/", -1], [":\\", -1], [":|", -0.5], [":-|", -0.5], [">:(", -2.5],
  [">:-(", -2.5], [":@", -2.2], ["</3", -2.5], ["-_-", -1], ["-.-", -1], [">_<", -1.3], [";(", -1.9], [":S", -1],
  [":-S", -1], [":O", -0.5], [":-O", -0.5], [":))", 2.3], [":)))", 2.5],
]

/**
 * Emoji by code point, which VADER's word lexicon does not cover; valences follow the emotion the Unicode name
 * gives the face or sign (skin tones, variation selectors and joiners are skipped by the tokenizer).
 */
export const EMOJI_VALENCES: ReadonlyArray<readonly [number, number]> = [
  [0x1f600, 2], [0x1f603, 2], [0x1f604, 2], [0x1f601, 2], [0x1f606, 2], [0x1f605, 0.8], [0x1f602, 1.6],
  [0x1f923, 1.6], [0x1f642, 1.2], [0x1f60a, 2], [0x1f607, 1.6], [0x1f60d, 2.4], [0x1f970, 2.4], [0x1f618, 2],
  [0x1f617, 1.6], [0x1f619, 1.6], [0x1f61a, 1.6], [0x1f60b, 1.6], [0x1f60e, 1.6], [0x1f929, 2.4], [0x1f973, 2.4],
  [0x1f917, 2], [0x1f60c, 1.2], [0x1f609, 1.2], [0x263a, 1.6], [0x1f44d, 1.6], [0x1f44f, 1.6], [0x1f64c, 2],
  [0x1f4af, 1.6], [0x1f525, 1.2], [0x2764, 2.4], [0x2665, 2.4], [0x1f495, 2.4], [0x1f496, 2.4], [0x1f497, 2.4],
  [0x1f493, 2.4], [0x1f49e, 2.4], [0x1f498, 2.4], [0x1f49d, 2.4], [0x1f499, 2], [0x1f49a, 2], [0x1f49b, 2],
  [0x1f49c, 2], [0x1f9e1, 2], [0x1f90d, 2], [0x1f5a4, 1.6], [0x2728, 0.8], [0x1f389, 2], [0x1f38a, 1.6],
  [0x2b50, 1.2], [0x1f31f, 1.6], [0x2705, 0.8], [0x1f64f, 1.2], [0x1f44c, 1.6], [0x1f91d, 1.2], [0x1f3c6, 1.6],
  [0x1f947, 1.6], [0x1f60f, 0.4], [0x1f610, -0.4], [0x1f611, -0.8], [0x1f636, -0.4], [0x1f615, -1.2],
  [0x1f641, -1.6], [0x2639, -1.6], [0x1f61e, -2], [0x1f614, -1.6], [0x1f61f, -1.6], [0x1f622, -2], [0x1f62d, -1.6],
  [0x1f629, -1.6], [0x1f62b, -1.6], [0x1f624, -1.6], [0x1f620, -2.4], [0x1f621, -2.4], [0x1f92c, -2.8],
  [0x1f92e, -2.4], [0x1f922, -2], [0x1f44e, -2], [0x1f494, -2.4], [0x1f612, -1.6], [0x1f644, -1.6], [0x1f62c, -0.8],
  [0x1f631, -1.6], [0x1f926, -1.6], [0x1f937, -0.4], [0x274c, -1.2], [0x1f4a9, -2], [0x1f616, -2], [0x1f623, -1.6],
  [0x1f630, -1.6], [0x1f628, -1.6], [0x1f613, -1.2], [0x1f62a, -0.8], [0x1f97a, -0.8], [0x1f921, -1.6],
  [0x1f6ab, -1.2], [0x1f637, -0.8], [0x1f47f, -2], [0x1f480, 0.4], [0x1f62e, -0.4], [0x1f632, -0.4], [0x1f625, -1.6],
  [0x1f62f, -0.4], [0x1f635, -1.2], [0x1f974, -0.8], [0x1f972, 0.4],
]

/**
 * Profanity used as an intensifier. Before a sentiment word it only amplifies it, whatever its own valence ("fucking
 * awesome" is very positive); with nothing to modify it is emphasis, like "!", never a direction of its own.
 */
export const PROFANE_INTENSIFIERS: ReadonlyArray<string> = [
  "fucking", "fuckin", "fricking", "frickin", "friggin", "frigging", "freaking", "freakin", "effing", "damn",
  "damned", "bloody", "hella", "hecka",
]

/**
 * Slang intensifiers that are also adjectives: before a sentiment word they amplify it ("mad good", "crazy
 * expensive"); alone they are the adjective, with its own valence ("I'm so mad").
 */
export const SLANG_INTENSIFIERS: ReadonlyArray<string> = [
  "mad", "wicked", "crazy", "stupid", "insanely", "ridiculously", "super", "mega", "uber",
]

/**
 * Words with no sentiment of their own that are complaints when negated ("it doesn't work", "never arrived",
 * "didn't fit", "nobody replied"): what goes wrong when buying anything.
 */
export const NEGATED_ONLY: Readonly<Record<string, number>> = {
  work: -2, works: -2, worked: -2, working: -2, function: -1.6, functions: -1.6, fit: -1.2, fits: -1.2,
  fitted: -1.2, arrive: -1.6, arrived: -1.6, arrives: -1.6, come: -0.8, came: -1.2, deliver: -1.6, delivered: -1.6,
  respond: -1.6, responded: -1.6, responds: -1.6, reply: -1.6, replied: -1.6, answer: -1.2, answered: -1.2,
  last: -1.2, lasted: -1.2, fix: -1.2, fixed: -1.2, solve: -1.2, solved: -1.2, resolved: -1.6, resolve: -1.6,
  received: -1.6, receive: -1.6, refunded: -1.6, worth: -1.6, recommend: -1.6,
}
