// Where the shared development data lives (tests may read it; the product never needs it):
// CDP_SHARED_DIR, else ../shared beside the repository, else /work/shared.
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const REPO = fileURLToPath(new URL("../../", import.meta.url))
const candidates = [process.env["CDP_SHARED_DIR"], resolve(REPO, "../shared"), "/work/shared"]
const found = candidates.find((c): c is string => c !== undefined && existsSync(join(c, "data", "signals")))
if (found === undefined) {
  throw new Error(`the shared data set was not found (looked in ${candidates.filter(Boolean).join(", ")}); set CDP_SHARED_DIR`)
}

export const SHARED_DIR = found
/** The signals dev set, with a trailing slash. */
export const SIGNALS_DEV = `${join(found, "data", "signals", "dev")}/`
export const SENTIMENT_DATA = join(found, "data", "sentiment")
