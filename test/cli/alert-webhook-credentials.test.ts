// A user name or password in CDP_ALERT_WEBHOOK_URL is sent as Basic credentials: over plain http:// anyone on the way
// reads them, so such a URL is refused at start-up in one line naming the variable (never echoing the password);
// over https:// they stay allowed (the alert webhook has no other way to authenticate).
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runCdp } from "../support/cli.ts"
import { freshDir, removeDir } from "../support/pipeline.ts"

let dir: string
beforeAll(() => { dir = freshDir() })
afterAll(() => removeDir(dir))

/** `cdp listen report` on a data dir that does not exist: it stops at the settings, or else at the data dir. */
const report = (url: string) =>
  runCdp(["listen", "report", "--data-dir", join(dir, "none")], { env: { CDP_ALERT_WEBHOOK_URL: url, CDP_ALERT_WEBHOOK_PRIVATE_NETWORK: undefined } })

describe("credentials in CDP_ALERT_WEBHOOK_URL", () => {
  it.each([
    ["http://alerts:s3cret-pw@hooks.example/alerts"],
    ["HTTP://alerts@hooks.example/alerts"],
    ["http://:s3cret-pw@hooks.example/alerts"],
  ])("%s is refused at start-up: one line naming the variable, no password in it, exit 1", (url) => {
    const r = report(url)
    expect(r.status).toBe(1)
    expect(r.stdout).toBe("")
    expect(r.stderr.split("\n")).toHaveLength(2)
    expect(r.stderr).toMatch(/^cdp: CDP_ALERT_WEBHOOK_URL must be .*user name or password.*http:\/\//)
    expect(r.stderr).not.toContain("s3cret")
  })

  it.each([["https://alerts:s3cret-pw@hooks.example/alerts"], ["http://hooks.example/alerts"]])("%s is taken", (url) => {
    const r = report(url)
    expect(r.status).toBe(1)
    expect(r.stderr).not.toContain("CDP_ALERT_WEBHOOK_URL")
    expect(r.stderr).toMatch(/cannot use data dir/)
  })
})
