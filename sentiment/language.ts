// Fast language guess for short texts: the script of the letters, then which language's function words dominate.
// It only has to answer "is this English?" reliably; anything else is reported, not scored.
import {
  KIND_WORD, SCRIPT_ARABIC, SCRIPT_COUNT, SCRIPT_CYRILLIC, SCRIPT_GREEK, SCRIPT_HAN, SCRIPT_HANGUL, SCRIPT_HEBREW,
  SCRIPT_INDIC, SCRIPT_KANA, SCRIPT_LATIN, SCRIPT_THAI, tokenize, type Tokens,
} from "./tokenize.ts"

/** Very frequent function words per language; words shared with English are left out of the other lists. */
const FUNCTION_WORDS: Record<string, string> = {
  en: "the and is are was were this that it's i'm don't didn't doesn't isn't to of with for my you your have has had " +
    "it they them their we our what which would could should will just very not but been from be at on an so than " +
    "then there here when who how about because really these those i it he she his her him me do does did can",
  es: "el la los las de en que y es un una por para con muy pero lo del se mi su al está esta este estoy como más todo " +
    "fue son yo tiene gracias hola bueno malo nunca nada también porque cuando ya hay pedido mucho sin sus nos " +
    "les ni eso ese esa le ha han había ser estaba tengo tienen puede desde hasta donde qué cómo",
  fr: "le la les de en et est une des du pour pas que qui dans avec je il elle nous vous ce cette sur mais très c'est " +
    "j'ai ne au aux sont était merci bonjour trop bien mon ma mes tout rien jamais ai été avoir fait mais ou " +
    "où leur leurs ces son sa ses même aussi comme chez déjà encore toujours",
  de: "der die das und ist nicht ein eine ich mit sie es zu den dem auf für von sehr aber auch war wir sind " +
    "noch nur wie kein keine danke bitte gut schlecht mein meine habe hat wurde immer schon bei nach oder wenn " +
    "dass einen einem ihr uns mir mich dich euch",
  it: "il lo la gli di che è e una per con non sono mi ma molto questo questa anche della ho ha grazie tutto " +
    "sempre mai niente perché più ciao bene male nel nella dei delle alla sono era stato come anche ancora",
  pt: "o os que de é e um uma para com não muito mas eu meu minha por foi está são ao do da dos das obrigado " +
    "obrigada também ótimo você nunca nada isso esse essa ele ela nós seu sua já ainda quando mais pelo pela",
  nl: "de het een en niet van ik je dat die met voor op zijn maar ook heel erg nog wel geen naar bij mijn " +
    "hebben heb bedankt goed slecht altijd nooit wat er dit deze hun ze wij jullie",
  sv: "och är att det som en ett inte på med för av jag du han hon vi de har var men mycket tack bra dålig " +
    "aldrig alltid kan ska skulle eller också",
  pl: "i nie jest to się na że w z do co jak ale tak już bardzo dziękuję dobry zły jestem był była są mam " +
    "tylko przez dla czy nigdy zawsze",
  tr: "ve bir bu da de çok için ile ama ben sen o biz siz onlar değil var yok teşekkürler iyi kötü gibi daha " +
    "en hiç her şey ne",
  id: "dan yang di ini itu dengan untuk tidak saya anda kami ada dari ke akan sudah belum sangat tapi juga " +
    "terima kasih bagus buruk",
}

const LANGUAGES = Object.keys(FUNCTION_WORDS)
const ENGLISH = LANGUAGES.indexOf("en")
const ENGLISH_BIT = 1 << ENGLISH

/** word → bit mask of the languages it is a function word of. */
const WORD_LANGUAGES = new Map<string, number>()
LANGUAGES.forEach((language, index) => {
  for (const word of (FUNCTION_WORDS[language] ?? "").split(" ")) {
    if (word !== "") WORD_LANGUAGES.set(word, (WORD_LANGUAGES.get(word) ?? 0) | (1 << index))
  }
})

const SCRIPT_LANGUAGE: ReadonlyArray<string> = (() => {
  const names = new Array<string>(SCRIPT_COUNT).fill("und")
  names[SCRIPT_CYRILLIC] = "ru"
  names[SCRIPT_GREEK] = "el"
  names[SCRIPT_ARABIC] = "ar"
  names[SCRIPT_HEBREW] = "he"
  names[SCRIPT_INDIC] = "hi"
  names[SCRIPT_THAI] = "th"
  names[SCRIPT_KANA] = "ja"
  names[SCRIPT_HAN] = "zh"
  names[SCRIPT_HANGUL] = "ko"
  return names
})()

const hits = new Int32Array(LANGUAGES.length)
const seen = new Set<string>()

/**
 * ISO 639-1 code of the language of already tokenized text. Text without enough evidence either way (a short "love
 * it!!", a lone "gracias") counts as English: it is scored by the English lexicon, where it mostly scores neutral.
 */
export const detectTokensLanguage = (tokens: Tokens): string => {
  const scripts = tokens.scripts
  const latin = scripts[SCRIPT_LATIN] ?? 0
  let bestScript = -1
  let bestScriptCount = 0
  for (let s = 0; s < SCRIPT_COUNT; s++) {
    const count = scripts[s] ?? 0
    if (s !== SCRIPT_LATIN && count > bestScriptCount) {
      bestScript = s
      bestScriptCount = count
    }
  }
  if (bestScript >= 0 && bestScriptCount > latin) {
    // Japanese mixes kana with Han characters; any kana means Japanese.
    if (bestScript === SCRIPT_HAN && (scripts[SCRIPT_KANA] ?? 0) > 0) return "ja"
    return SCRIPT_LANGUAGE[bestScript] ?? "und"
  }
  hits.fill(0)
  seen.clear()
  for (let i = 0; i < tokens.count; i++) {
    if (tokens.kind[i] !== KIND_WORD) continue
    const word = tokens.text[i] ?? ""
    const mask = WORD_LANGUAGES.get(word)
    if (mask === undefined) continue
    // A word counts once, and a word that is also an English function word ("to", "come") is no evidence against
    // English, so only English hits count for it.
    if (seen.has(word)) continue
    seen.add(word)
    if (mask & ENGLISH_BIT) {
      hits[ENGLISH] = (hits[ENGLISH] ?? 0) + 1
      continue
    }
    for (let l = 0; l < LANGUAGES.length; l++) if (mask & (1 << l)) hits[l] = (hits[l] ?? 0) + 1
  }
  let best = ENGLISH
  for (let l = 0; l < LANGUAGES.length; l++) if ((hits[l] ?? 0) > (hits[best] ?? 0)) best = l
  // Two distinct function words of another language, and more of them than English ones: too much to be a name
  // or a borrowed word ("a la carte"), so the text is not English.
  return best !== ENGLISH && (hits[best] ?? 0) >= 2 ? (LANGUAGES[best] ?? "und") : "en"
}

/** ISO 639-1 code of the language `text` is most likely written in ("en", "es", "de", ...). */
export const detectLanguage = (text: string): string => detectTokensLanguage(tokenize(text))
