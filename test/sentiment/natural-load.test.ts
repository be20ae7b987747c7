// sentiment/natural.ts loads only the parts of `natural` the scorer uses: every cdp command (and cdp serve) imports it
// at start-up, so what it loads is paid by `cdp --version` too.
import { spawnSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { naturalNegations } from "../../sentiment/natural.ts"
import { REPO_ROOT } from "../support/cli.ts"

describe("natural's parts", () => {
  it("the negation words are natural's English ones, read without its sentiment analyzers' vocabularies", () => {
    expect(naturalNegations).toEqual(["not", "no", "never", "neither"])
    // In a fresh process: which of natural's files importing the module reads (require's cache holds every one).
    const script = "import { createRequire } from 'node:module'; await import('./sentiment/natural.ts'); " +
      "const cache = createRequire(import.meta.url).cache; " +
      "console.log(JSON.stringify(Object.keys(cache).filter((f) => f.includes('/natural/lib/natural/sentiment/'))))"
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: REPO_ROOT, encoding: "utf8" })
    expect(run.stderr).toBe("")
    const loaded = JSON.parse(run.stdout) as Array<string>
    // Before: SentimentAnalyzer.js and every language's vocabularies (senticon, pattern, AFINN: about 4 MB of JSON).
    expect(loaded.map((f) => f.replace(/.*\/natural\/lib\/natural\//, ""))).toEqual(["sentiment/English/negations_en.json"])
  })
})
