// The signals dev set's ground truth as the consent and audience dev-set tests read it: who each person is and what
// they finally consented to, which person each item belongs to, the raw web messages, and which people the data alone
// cannot tell apart; plus landing the whole dev set through the connectors into a data dir.
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { expect } from "vitest"
import { runCdp } from "./cli.ts"
import { SIGNALS_DEV } from "./shared.ts"

/** Every connector's file of the dev set, by the source that reads it. */
export const DEVSET_SOURCES: ReadonlyArray<readonly [string, string]> = [
  ["segment", "web.ndjson"], ["sendgrid", "email-events.json"], ["email", "email-inbound"], ["chat", "chat.ndjson"],
  ["twitter", "tweets.json"], ["calls", "calls.csv"],
]

/** The purposes the truth states a final consent for. */
export const TRUTH_PURPOSES = ["Analytics", "Advertising", "Personalization", "CrmSync", "SocialListening"] as const

export interface TruthPerson {
  readonly person_id: string
  readonly user_id: string | null
  readonly anonymous_ids: ReadonlyArray<string>
  readonly twitter: { readonly handle: string } | null
  readonly consent: Readonly<Record<string, boolean | null>>
}

const lines = (file: string) => readFileSync(join(SIGNALS_DEV, file), "utf8").trim().split("\n")

export const persons = new Map(lines("truth/persons.ndjson").map((l) => JSON.parse(l) as TruthPerson).map((p) => [p.person_id, p]))
export const personOfItem = new Map(lines("truth/items.ndjson")
  .map((l) => JSON.parse(l) as { item_id: string; person_id: string }).map((i) => [i.item_id, i.person_id]))

export const webMessages = lines("web.ndjson")
  .map((l) => JSON.parse(l) as { messageId: string; anonymousId?: string; userId?: string; traits?: Record<string, unknown>; context?: { consent?: unknown } })

/** The web messages that state a consent choice (Segment preferences). */
export const choices = new Set(webMessages.filter((m) => m.context?.consent !== undefined).map((m) => m.messageId))

const tiedBrowsers = new Set(webMessages.filter((m) => m.userId !== undefined || m.traits?.["email"] !== undefined || m.traits?.["phone"] !== undefined)
  .map((m) => m.anonymousId))
const firstOfBrowser = new Map<string, (typeof webMessages)[number]>()
const peopleOfBrowser = new Map<string, Set<string>>()
for (const m of webMessages) {
  if (m.anonymousId === undefined) continue
  if (!firstOfBrowser.has(m.anonymousId)) firstOfBrowser.set(m.anonymousId, m)
  peopleOfBrowser.set(m.anonymousId, (peopleOfBrowser.get(m.anonymousId) ?? new Set<string>()).add(personOfItem.get(m.messageId) ?? ""))
}

/**
 * People whose final consent the data alone cannot tell apart from another browser's or person's, judged apart
 * (counted, not asserted). Each reason is read from the raw messages, not from our system:
 * - a browser nothing ties to a person (never a user id, an e-mail or a phone on its messages), beside others: a
 *   choice made there stays with that browser's own profile, and nobody can know whose it is;
 * - a browser whose very first message already carries preferences (its anonymous id was reset, e.g. by a logout,
 *   and it re-states a choice made under its old id), beside others: it reads as a fresh choice;
 * - a browser whose messages belong to two people (a shared device): one profile holds both people's choices.
 */
export const untellable = (p: { readonly anonymous_ids: ReadonlyArray<string> }) =>
  (p.anonymous_ids.length > 1 && p.anonymous_ids.some((a) => !tiedBrowsers.has(a) || firstOfBrowser.get(a)?.context?.consent !== undefined)) ||
  p.anonymous_ids.some((a) => (peopleOfBrowser.get(a)?.size ?? 0) > 1)

/** Lands every dev-set file through `cdp ingest` into `dataDir` (tenant default), each without a word on stderr. */
export const landDevSet = (dataDir: string) => {
  for (const [source, file] of DEVSET_SOURCES) {
    const r = runCdp(["ingest", "--source", source, join(SIGNALS_DEV, file), "--data-dir", dataDir], { env: { CDP_PHONE_REGIONS: "US,GB" } })
    expect(r.stderr, `${source} ${file}`).toBe("")
  }
}
