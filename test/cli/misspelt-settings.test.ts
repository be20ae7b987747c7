// A CDP_* variable a letter or two from a setting (CDP_WAREHUSE) is a typo that would leave the setting at its default
// unsaid: every command warns, naming the setting it probably meant. Variables further from every setting (the
// service scripts' CDP_SVC_DIR, CDP_KAFKA_PORT, ...) are left alone.
import { describe, expect, it } from "vitest"
import { misspeltSettings } from "../../cli/config.ts"
import { runCdp } from "../support/cli.ts"

describe("misspelt settings", () => {
  it("names each typo with the setting it is near; exact settings and far-off variables pass", () => {
    expect(misspeltSettings({ CDP_WAREHUSE: "clickhouse", CDP_KAFKA_BROKER: "k:9092", CDP_WAREHOUSE: "embedded", CDP_SVC_DIR: "/x", CDP_KAFKA_PORT: "9092", CDP_INTEGRATION: "1", PATH: "/bin" }))
      .toEqual([{ variable: "CDP_WAREHUSE", meant: "CDP_WAREHOUSE" }, { variable: "CDP_KAFKA_BROKER", meant: "CDP_KAFKA_BROKERS" }])
    expect(misspeltSettings({})).toEqual([])
  })

  it("a command warns on stderr and still runs", () => {
    const r = runCdp(["sentiment", "score"], { input: "love it\n", env: { CDP_RETENTON: "events=12" } })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stderr).toBe("cdp: warning: CDP_RETENTON is not a setting cdp reads (did you mean CDP_RETENTION?); it is ignored\n")
    expect(r.stdout).toContain("positive")
  })
})
