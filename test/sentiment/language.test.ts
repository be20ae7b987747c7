import { describe, expect, it } from "vitest"
import { createScorer, detectLanguage, score } from "../../sentiment/index.ts"

describe("language", () => {
  it.each([
    ["es", "El pedido llegó tarde y la chaqueta está rota, muy mal servicio"],
    ["fr", "La veste est arrivée en retard et le service client ne répond pas"],
    ["de", "Die Jacke ist nicht gut und der Versand war sehr langsam"],
    ["it", "La giacca è arrivata in ritardo e non sono contento"],
    ["pt", "O produto chegou com defeito e não recebi o reembolso"],
    ["nl", "De jas is niet goed en de levering was erg laat"],
    ["ru", "Куртка пришла порванная, ужасно"],
    ["ja", "ジャケットはとても良いです"],
    ["zh", "质量很好，物流很快"],
    ["ar", "المنتج سيء جدا"],
  ])("non-English text (%s) is unscored with the language as the reason", (language, text) => {
    const r = score(text)
    expect(r.status).toBe("unscored")
    expect(r.reason).toBe(`language not English (${language})`)
    expect(r.language).toBe(language)
    expect(r.score).toBe(0)
  })

  it("English text with a foreign name or phrase is still English", () => {
    expect(detectLanguage("The à la carte menu at Café de la Paix was great")).toBe("en")
    expect(detectLanguage("Co writer/director Parker's attempts to fashion a satire fall short")).toBe("en")
    expect(score("Merci! The jacket is lovely and the delivery was quick").status).toBe("scored")
  })

  it("short text with no function words is scored as English", () => {
    expect(score("love it!!").status).toBe("scored")
    expect(score("😍😍").status).toBe("scored")
  })

  it("language detection can be switched off", () => {
    const r = createScorer({ requireEnglish: false }).score("El pedido llegó tarde, muy mal")
    expect(r.status).toBe("scored")
    expect(r.language).toBe("es")
  })
})
