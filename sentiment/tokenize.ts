// A single-pass, allocation-light tokenizer for what people write online: words with inner apostrophes, numbers and
// "8/10" ratings, emoticons, emoji, clause punctuation. Results live in module-level buffers that are reused between
// calls (scoring is synchronous), so a text costs only the token strings themselves.
import { EMOJI, EMOTICONS } from "./lexicon.ts"

export const KIND_WORD = 1
export const KIND_NUMBER = 2
export const KIND_RATING = 3
/** A clause break inside a sentence: , ; : ( ) dashes. */
export const KIND_BREAK = 4
/** A sentence end: . ! ? … or a line break. */
export const KIND_END = 5
export const KIND_EMOJI = 6
export const KIND_EMOTICON = 7

export const FLAG_CAPS = 1
export const FLAG_ELONGATED = 2
export const FLAG_HASHTAG = 4

export const SCRIPT_LATIN = 0
export const SCRIPT_CYRILLIC = 1
export const SCRIPT_GREEK = 2
export const SCRIPT_ARABIC = 3
export const SCRIPT_HEBREW = 4
export const SCRIPT_INDIC = 5
export const SCRIPT_THAI = 6
export const SCRIPT_KANA = 7
export const SCRIPT_HAN = 8
export const SCRIPT_HANGUL = 9
export const SCRIPT_COUNT = 10

/** The tokens of the last text passed to `tokenize`; valid until the next call. */
export interface Tokens {
  count: number
  /** Lower-cased word, the number as written, the emoticon or emoji as written, or the punctuation mark. */
  text: string[]
  kind: Uint8Array
  flags: Uint8Array
  /** Numeric value of numbers, the ratio of ratings ("8/10" → 0.8), the valence of emoticons and emoji. */
  value: Float64Array
  /** Words written in capitals and words written in lower case; emphasis by capitals needs both. */
  capsWords: number
  lowerWords: number
  exclamations: number
  /** Letters per script, for language detection. */
  scripts: Int32Array
}

const tokens: Tokens = {
  count: 0,
  text: [],
  kind: new Uint8Array(256),
  flags: new Uint8Array(256),
  value: new Float64Array(256),
  capsWords: 0,
  lowerWords: 0,
  exclamations: 0,
  scripts: new Int32Array(SCRIPT_COUNT),
}

const grow = (): void => {
  const size = tokens.kind.length * 2
  const kind = new Uint8Array(size)
  kind.set(tokens.kind)
  const flags = new Uint8Array(size)
  flags.set(tokens.flags)
  const value = new Float64Array(size)
  value.set(tokens.value)
  tokens.kind = kind
  tokens.flags = flags
  tokens.value = value
}

const push = (text: string, kind: number, flags: number, value: number): void => {
  const i = tokens.count
  if (i === tokens.kind.length) grow()
  tokens.text[i] = text
  tokens.kind[i] = kind
  tokens.flags[i] = flags
  tokens.value[i] = value
  tokens.count = i + 1
}

const isAsciiLetter = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90)
const isDigit = (c: number): boolean => c >= 48 && c <= 57

/** Script of a letter code point, or -1 when the code point is not a letter we know. */
const scriptOf = (c: number): number => {
  if (c < 0x80) return isAsciiLetter(c) ? SCRIPT_LATIN : -1
  if (c < 0x250) return c >= 0xc0 && c !== 0xd7 && c !== 0xf7 ? SCRIPT_LATIN : -1
  if (c >= 0x370 && c < 0x400) return SCRIPT_GREEK
  if (c >= 0x400 && c < 0x530) return SCRIPT_CYRILLIC
  if (c >= 0x590 && c < 0x600) return SCRIPT_HEBREW
  if (c >= 0x600 && c < 0x700) return SCRIPT_ARABIC
  if (c >= 0x900 && c < 0xe00) return SCRIPT_INDIC
  if (c >= 0xe00 && c < 0xe80) return SCRIPT_THAI
  if (c >= 0x1e00 && c < 0x1f00) return SCRIPT_LATIN
  if (c >= 0x3040 && c < 0x3100) return SCRIPT_KANA
  if (c >= 0x3400 && c < 0xa000) return SCRIPT_HAN
  if (c >= 0xac00 && c < 0xd7b0) return SCRIPT_HANGUL
  if (c >= 0x300 && c < 0x370) return SCRIPT_LATIN // combining accents
  return -1
}

const isApostrophe = (c: number): boolean => c === 39 || c === 0x2019 || c === 0x2018

/** Pictographic ranges; anything here is an emoji whether or not we know its valence. */
const isEmojiRange = (c: number): boolean =>
  (c >= 0x1f000 && c < 0x1fb00) || (c >= 0x2600 && c < 0x27c0) || (c >= 0x2b00 && c < 0x2c00) ||
  (c >= 0x2190 && c < 0x2200) || (c >= 0x2300 && c < 0x2400) || c === 0x3030 || c === 0x303d

/** Code points that only modify the emoji before them: variation selectors, skin tones, keycap, tags. */
const isEmojiModifier = (c: number): boolean =>
  c === 0xfe0f || c === 0xfe0e || (c >= 0x1f3fb && c <= 0x1f3ff) || c === 0x20e3 || (c >= 0xe0020 && c <= 0xe007f)

/** First characters an emoticon can start with (those that start a word, like "xD", are handled as words). */
const EMOTICON_START = new Set([":", ";", "=", "<", ">", "^", "-"].map((s) => s.charCodeAt(0)))

const BREAK_CHARS = new Set([",", ";", ":", "(", ")", "[", "]", "{", "}"].map((s) => s.charCodeAt(0)))
const END_CHARS = new Set([".", "!", "?", "\n"].map((s) => s.charCodeAt(0)))

const tryEmoticon = (text: string, i: number): number => {
  for (let len = 4; len >= 2; len--) {
    if (i + len > text.length) continue
    const candidate = text.slice(i, i + len)
    const value = EMOTICONS.get(candidate)
    if (value === undefined) continue
    // ":D" must not be the start of ":Done"; an emoticon ending in a letter must end the word.
    const last = candidate.charCodeAt(len - 1)
    if (isAsciiLetter(last) && i + len < text.length && isAsciiLetter(text.charCodeAt(i + len))) continue
    push(candidate, KIND_EMOTICON, 0, value)
    return len
  }
  return 0
}

/** Scans a word starting at `start`; returns the index after it. */
const scanWord = (text: string, start: number, hashtag: boolean): number => {
  const n = text.length
  let i = start
  let upper = 0
  let lower = 0
  let ascii = 0
  let other = 0
  let elongated = false
  let curly = false
  let run = 1
  let prev = -1
  while (i < n) {
    const c = text.charCodeAt(i)
    if (isAsciiLetter(c)) {
      ascii++
      if (c <= 90) upper++
      else lower++
    } else if (isApostrophe(c)) {
      // An apostrophe is part of the word only between two letters ("don't", "it's").
      const next = i + 1 < n ? text.charCodeAt(i + 1) : 0
      if (!(i > start && isAsciiLetter(next))) break
      if (c !== 39) curly = true
    } else if (!isDigit(c)) {
      // Digits stay in the word ("gr8", "mp3"); other letters are counted by script for language detection.
      const script = c >= 0x80 ? scriptOf(c) : -1
      if (script < 0) break
      tokens.scripts[script] = (tokens.scripts[script] ?? 0) + 1
      other++
      lower++
    }
    const folded = c | 32
    if (folded === prev && isAsciiLetter(c)) {
      run++
      if (run >= 3) elongated = true
    } else {
      run = 1
    }
    prev = isAsciiLetter(c) ? folded : -1
    i++
  }
  tokens.scripts[SCRIPT_LATIN] = (tokens.scripts[SCRIPT_LATIN] ?? 0) + ascii
  let word = text.slice(start, i)
  if (upper + lower === 0) {
    // Digits only: a number, perhaps with a decimal part, perhaps a rating such as "8/10" or "4.5/5".
    let end = i
    if (text.charCodeAt(end) === 46 && isDigit(text.charCodeAt(end + 1))) {
      end += 2
      while (end < n && isDigit(text.charCodeAt(end))) end++
      word = text.slice(start, end)
    }
    const value = Number(word)
    if (text.charCodeAt(end) === 47 && isDigit(text.charCodeAt(end + 1))) {
      let d = end + 1
      while (d < n && isDigit(text.charCodeAt(d))) d++
      const denominator = Number(text.slice(end + 1, d))
      if ((denominator === 5 || denominator === 10) && value <= denominator) {
        push(text.slice(start, d), KIND_RATING, 0, value / denominator)
        return d
      }
    }
    push(word, KIND_NUMBER, 0, value)
    return end
  }
  let flags = hashtag ? FLAG_HASHTAG : 0
  if (elongated) flags |= FLAG_ELONGATED
  if (upper >= 2 && lower === 0) {
    flags |= FLAG_CAPS
    tokens.capsWords++
  } else if (lower > 0) {
    tokens.lowerWords++
  }
  if (upper > 0 || other > 0) word = word.toLowerCase()
  if (curly) word = word.replaceAll("\u2019", "'").replaceAll("\u2018", "'")
  push(word, KIND_WORD, flags, 0)
  return i
}

/** Tokenizes `text` into the shared buffers and returns them. */
export const tokenize = (text: string): Tokens => {
  tokens.count = 0
  tokens.capsWords = 0
  tokens.lowerWords = 0
  tokens.exclamations = 0
  tokens.scripts.fill(0)
  const n = text.length
  let i = 0
  let hashtag = false
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 32 || c === 9 || c === 13) {
      i++
      hashtag = false
      continue
    }
    if (EMOTICON_START.has(c)) {
      const len = tryEmoticon(text, i)
      if (len > 0) {
        i += len
        continue
      }
    }
    if (isAsciiLetter(c) || isDigit(c) || (c >= 0x80 && c < 0xd800 && scriptOf(c) >= 0)) {
      i = scanWord(text, i, hashtag)
      hashtag = false
      continue
    }
    hashtag = false
    if (c === 35) {
      hashtag = true
      i++
      continue
    }
    if (END_CHARS.has(c)) {
      if (c === 33) tokens.exclamations++
      // Runs of the same mark ("!!!", "...") are one sentence end; every "!" still counts as emphasis.
      let j = i + 1
      while (j < n && text.charCodeAt(j) === c) {
        if (c === 33) tokens.exclamations++
        j++
      }
      push(text[i] ?? ".", KIND_END, 0, j - i)
      i = j
      continue
    }
    if (BREAK_CHARS.has(c) || c === 0x2013 || c === 0x2014) {
      push(text[i] ?? ",", KIND_BREAK, 0, 0)
      i++
      continue
    }
    if (c === 0x2026) {
      push("…", KIND_END, 0, 1)
      i++
      continue
    }
    if (c >= 0x2190) {
      const cp = text.codePointAt(i) ?? c
      const width = cp > 0xffff ? 2 : 1
      if (isEmojiRange(cp)) {
        const value = EMOJI.get(cp)
        if (value !== undefined) push(String.fromCodePoint(cp), KIND_EMOJI, 0, value)
        i += width
        // Skip modifiers, and the rest of a joined sequence (👩‍💻 counts once, as its first emoji).
        while (i < n) {
          const m = text.codePointAt(i) ?? 0
          if (isEmojiModifier(m)) i += m > 0xffff ? 2 : 1
          else if (m === 0x200d) {
            i++
            const joined = text.codePointAt(i) ?? 0
            i += joined > 0xffff ? 2 : 1
          } else break
        }
        continue
      }
      i += width
      continue
    }
    i++
  }
  return tokens
}
