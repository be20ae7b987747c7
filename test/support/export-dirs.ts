// The data dir and replay servers of each test in an export test file: the dir is a copy of one migrated once for the
// file with consent's policy (a fresh warehouse migrates for ~3 s), and the servers a test kept are closed after it.
import { Effect } from "effect"
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest"
import { withConsent } from "../consent/support.ts"
import type { ReplayServer } from "./crm-replay-servers.ts"
import { migratedTemplate, type MigratedTemplate } from "./migrated-dir.ts"
import { freshDir, removeDir } from "./pipeline.ts"

/** Registers the file's hooks; `onDir` is given each test's data dir. Returns `keep`, which closes a server after the test. */
export const exportTestDirs = (onDir: (dir: string) => void) => {
  let template: MigratedTemplate | undefined
  let dir = ""
  const servers: Array<ReplayServer> = []
  beforeAll(async () => {
    template = await migratedTemplate((d) => withConsent(d, Effect.void))
  })
  afterAll(() => template?.remove())
  beforeEach(() => {
    dir = template!.copyTo(freshDir())
    onDir(dir)
  })
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()))
    removeDir(dir)
  })
  return { keep: <S extends ReplayServer>(s: S) => (servers.push(s), s) }
}
