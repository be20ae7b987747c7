// `cdp --help` without the commands' modules: bin/cdp.js prints it from here, so it loads commander alone rather than
// every command's modules (about half a second of CPU). cli/main.ts takes the program's description and examples from
// here; each command's line repeats what its own definition says, which test/cli/version.test.ts holds equal to the
// help of the whole command tree (a command added there and not here fails it).
import { readFileSync } from "node:fs"
import { Command } from "commander"

export const PROGRAM_DESCRIPTION = "Privacy-first customer data platform: collect, validate and land customer signals in ClickHouse."

export const PROGRAM_EXAMPLES = `
Examples (cdp COMMAND --help shows each command's own):
  $ npx cdp demo                                     land a bundled sample and show what landed
  $ npx cdp serve --port 8787                        run the Segment-compatible collector and webhooks
  $ npx cdp ingest --source email support.mbox       push a file through the pipeline (--dry-run to check it)
  $ npx cdp x-search                                 pull the configured X/Twitter searches once
  $ npx cdp replay --from 2024-09-01 --to 2024-09-30 re-run archived raw messages
  $ npx cdp dlq list --rule bad_timestamp            what was refused, and why; cdp dlq retry re-drives it
  $ echo "love it but delivery was late" | npx cdp sentiment score
  $ npx cdp sentiment rescore --since 2024-09-01     rescore history after a model change
  $ npx cdp listen report --since 7d --format html   social listening report with charts
  $ npx cdp query "SELECT type, count() FROM events GROUP BY type" --format table
  $ npx cdp profile show ann@x.example               one customer across every channel
  $ npx cdp identity explain ann@x.example user_id:u1   why two identifiers are (or are not) one person
  $ npx cdp consent show ann@x.example               consent per purpose, with every change and its proof`

export const VERSION_FLAGS = "-V, --version"
export const VERSION_DESCRIPTION = "print cdp's version"

/** The package's version, as npm installed it (cdp --version). */
export const packageVersion = (): string =>
  (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version

/** Each command as `cdp --help` lists it: its term (name, [options] when it has any, arguments) and description. */
const COMMANDS: ReadonlyArray<readonly [term: string, description: string]> = [
  ["serve [options]", "run the collector (Segment HTTP Tracking API) and the pipeline until SIGINT/SIGTERM"],
  ["ingest [options] <file>", "push a file through the same pipeline the collector feeds"],
  ["x-search [options]", "pull the configured X/Twitter recent-search queries once (cdp serve polls them itself when configured)"],
  ["replay [options]", "re-run archived raw messages through the pipeline (already-landed messages change nothing)"],
  ["dlq", "inspect and re-drive dead letters (refused input)"],
  ["sentiment", "score texts for sentiment, or rescore history"],
  ["listen", "social listening for marketers"],
  ["query [options] <sql>", "run read-only SQL against one tenant's rows (JSON lines by default)"],
  ["profile", "unified customer profiles"],
  ["traits", "computed traits (CDP_COMPUTED_TRAITS): preview one before saving it"],
  ["identity", "explain, rebuild and review identity resolution"],
  ["dsr", "data-subject requests (GDPR access, portability, rectification, restriction, objection, erasure)"],
  ["audit", "the tamper-evident audit log of data-subject requests and of accesses to personal data"],
  ["audience", "audiences: who matches a condition and may be used for a purpose, kept current as events land"],
  ["export", "exports of consenting profiles to downstream destinations (CDP_DESTINATIONS): files, webhooks, HubSpot, Salesforce; through cdp serve's /v1/exports while it holds the data dir"],
  ["token", "scoped API tokens for the routes beside the collector (profiles, consent, DSRs, ...)"],
  ["consent", "consent per person and purpose: the ledger"],
  ["relations", "relationship with the brand per profile: type, health, churn risk, with evidence"],
  ["worker [options]", "run the pipeline's stages as a Kafka consumer-group member (CDP_BUS=kafka) until SIGINT/SIGTERM"],
  ["retention", "how long each store keeps data (CDP_RETENTION)"],
  ["demo [options]", "land a bundled realistic sample in a fresh data dir and show what landed and what was rejected"],
]

/** Prints `cdp --help`, as commander prints it from the whole command tree. */
export const printTopLevelHelp = (): void => {
  const terms = new Map(COMMANDS.map(([term]) => [term.split(" ")[0]!, term]))
  const program = new Command("cdp")
    .description(PROGRAM_DESCRIPTION)
    .version(packageVersion(), VERSION_FLAGS, VERSION_DESCRIPTION)
    .addHelpText("after", PROGRAM_EXAMPLES)
    .configureHelp({ subcommandTerm: (command) => terms.get(command.name()) ?? command.name() })
  program.helpCommand(false)
  for (const [term, description] of COMMANDS) program.command(term.split(" ")[0]!).description(description)
  // A reader gone before the help is written (`cdp --help | head -1`) is no error.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error
  })
  program.outputHelp()
}
