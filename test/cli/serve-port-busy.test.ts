// `cdp serve` on a port something else holds: one line naming the address, exit 1, before the data dir is made or its
// warehouse and identity graph are loaded (a large one takes a minute: the newcomer waited for it only to be told
// the port was taken, with a data dir made on the way).
import { existsSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "vitest"
import { freshDir, removeDir } from "../support/pipeline.ts"
import { runCdp } from "../support/cli.ts"

let dir: string
let holder: Server
beforeEach(() => { dir = freshDir() })
afterEach(async () => {
  await new Promise((resolve) => holder.close(resolve))
  removeDir(dir)
})

describe("cdp serve on a port in use", () => {
  it("says so in one line and exits 1, making no data dir", async () => {
    holder = createServer()
    const port = await new Promise<number>((resolve) => holder.listen(0, "127.0.0.1", () => resolve((holder.address() as { port: number }).port)))
    const data = join(dir, "new-data")
    const r = runCdp(["serve", "--port", String(port), "--data-dir", data])
    expect(r.status).toBe(1)
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(new RegExp(`^cdp: cannot listen on 127\\.0\\.0\\.1:${port}: .*(in use|EADDRINUSE)`))])
    expect(existsSync(data)).toBe(false)
  })
})
