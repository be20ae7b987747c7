// Start-up cost: RSS and time to ready of `cdp serve` after restart on a data dir with N landed rows (not part of
// the tests; run by hand: node test/bench/restart.ts DATA_DIR [rows], which fills the dir on first use).
import { spawn } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Logger } from "effect"
import { eventRow } from "../../warehouse/sink.ts"
import { Warehouse } from "../../warehouse/warehouse.ts"
import { CDP_BIN } from "../support/cli.ts"

const dir = process.argv[2]!
const rows = Number(process.argv[3] ?? 1_000_000)
const BIN = CDP_BIN
if (!existsSync(join(dir, "filled"))) {
  const t = Date.now()
  await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
    const w = yield* Warehouse
    for (let start = 0; start < rows; start += 50_000) {
      const batch = []
      for (let i = start; i < Math.min(rows, start + 50_000); i++) {
        const ts = new Date(Date.UTC(2024, i % 12, 1 + (i % 28))).toISOString()
        batch.push(eventRow({
          tenant: "acme", messageId: `restart-${i}-${"x".repeat(20)}`, type: "track", event: "Viewed", anonymousId: `anon-${i % 50000}`,
          userId: "", groupId: "", previousId: "", channel: "web", source: "segment", timestamp: ts, originalTimestamp: null,
          sentAt: null, receivedAt: ts, properties: { product: `p${i % 100}` }, traits: {}, context: {}, extra: {},
          identifiers: [], text: "", profileId: `anon-${i % 50000}`,
        } as never))
      }
      yield* w.insert("event_rows", batch)
    }
  })).pipe(Effect.provide(Warehouse.embedded(join(dir, "clickhouse"))), Effect.provide(Logger.layer([]))))
  writeFileSync(join(dir, "filled"), String(rows))
  console.log(`filled ${rows} rows in ${Date.now() - t} ms`)
}
const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024 / 1024
for (let run = 0; run < 3; run++) {
  const started = performance.now()
  const child = spawn(process.execPath, [BIN, "serve", "--port", "0", "--data-dir", dir, "--write-key", "wk_m=acme"], { stdio: ["ignore", "ignore", "pipe"] })
  let err = ""
  await new Promise<void>((resolve, reject) => {
    child.stderr.on("data", (d: Buffer) => { err += d; if (/listening on/.test(err)) resolve() })
    child.once("exit", (c) => reject(new Error(`exited ${c}: ${err}`)))
  })
  const ready = performance.now() - started
  const atReady = rss(child.pid!)
  await new Promise((r) => setTimeout(r, 3000))
  const after = rss(child.pid!)
  console.log(`run ${run + 1}: ready in ${(ready / 1000).toFixed(2)} s, RSS ${atReady.toFixed(2)} GB at ready, ${after.toFixed(2)} GB 3 s later`)
  await new Promise<void>((r) => { child.removeAllListeners("exit"); child.once("exit", () => r()); child.kill("SIGTERM") })
}
