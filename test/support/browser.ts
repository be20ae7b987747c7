// Test support: a real headless Chromium that `npm ci` installs (@sparticuz/chromium, no system browser), with web
// security on, and a static web server standing for a website on its own origin.
import { createReadStream, existsSync, statSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { createRequire } from "node:module"
import { dirname, extname, join, normalize, sep } from "node:path"
import chromium, { inflate } from "@sparticuz/chromium"
import { type Browser, chromium as playwright } from "playwright-core"

/**
 * @sparticuz/chromium's default arguments are for AWS Lambda. Two are wrong here: --disable-web-security turns CORS
 * off, so a page would reach any origin and a cross-origin test would pass where a real browser blocks; and
 * --single-process makes closing one browser context end the whole browser, so tests could not each have a fresh one.
 */
const DROPPED_ARGS = new Set(["--disable-web-security", "--single-process"])

const require = createRequire(import.meta.url)
const SPARTICUZ_BIN = join(dirname(require.resolve("@sparticuz/chromium")), "..", "bin")

/**
 * Unpacks the browser (to the temp dir, once per machine) and returns its path and library dir. The package unpacks
 * its own NSS and expat only on Amazon Linux; unpacked everywhere, a machine without them (a fresh container) runs
 * the browser too. Called once before the test files run (chromium-setup.ts): test files in parallel would otherwise
 * race, one launching the binary another is still writing.
 */
export const unpackChromium = async (): Promise<{ readonly executablePath: string; readonly libs: string }> => ({
  executablePath: await chromium.executablePath(),
  libs: join(await inflate(join(SPARTICUZ_BIN, "al2023.tar.br")), "lib"),
})

export const launchChromium = async (): Promise<Browser> => {
  const { executablePath, libs } = await unpackChromium()
  const inherited = process.env["LD_LIBRARY_PATH"]
  return playwright.launch({
    executablePath,
    args: chromium.args.filter((a) => !DROPPED_ARGS.has(a)),
    headless: true,
    env: { ...process.env, LD_LIBRARY_PATH: inherited === undefined || inherited === "" ? libs : `${libs}:${inherited}` },
  })
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json",
}

export interface StaticSite {
  /** `http://127.0.0.1:PORT`: another port, so another origin than a collector on the same host. */
  readonly origin: string
  readonly close: () => Promise<void>
}

/**
 * Serves `pages` (path to HTML) and, under each `mounts` prefix, the files of a directory (an SDK's dist folder).
 * Anything else is 404.
 */
export const serveStatic = (
  pages: Readonly<Record<string, string>>,
  mounts: Readonly<Record<string, string>>,
): Promise<StaticSite> =>
  new Promise((resolve, reject) => {
    const server: Server = createServer((req, res) => {
      const path = decodeURIComponent((req.url ?? "/").split("?", 1)[0]!)
      const page = pages[path]
      if (page !== undefined) {
        res.writeHead(200, { "content-type": TYPES[".html"]! })
        res.end(page)
        return
      }
      for (const [prefix, dir] of Object.entries(mounts)) {
        if (!path.startsWith(prefix)) continue
        const file = normalize(join(dir, path.slice(prefix.length)))
        if (file.startsWith(dir + sep) && existsSync(file) && statSync(file).isFile()) {
          res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" })
          createReadStream(file).pipe(res)
          return
        }
      }
      res.writeHead(404).end()
    })
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resolve({
        origin: `http://127.0.0.1:${port}`,
        close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()) }),
      })
    })
  })
