// A progress bar for file imports, shown only when stderr is a terminal (never in pipes, logs or CI).
import { statSync } from "node:fs"
import { basename } from "node:path"
import cliProgress from "cli-progress"

export interface Progress {
  readonly update: (bytesRead: number) => void
  readonly stop: () => void
}

export const progressBar = (file: string): Progress => {
  let total = 0
  try {
    total = statSync(file).size
  } catch {
    // The import reports the unreadable file itself.
  }
  if (!process.stderr.isTTY || total === 0) return { update: () => {}, stop: () => {} }
  const bar = new cliProgress.SingleBar(
    { format: `${basename(file)} [{bar}] {percentage}% | {value}/{total} bytes | eta {eta}s`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  )
  bar.start(total, 0)
  return { update: (bytes) => bar.update(Math.min(bytes, total)), stop: () => bar.stop() }
}
