// Test support: what a refused `cdp` command must look like.
import { expect } from "vitest"

/** stderr is one line starting `cdp:` (commander's own usage errors add a hint line), with no stack frame; exit 1. */
export const expectOneLineError = (r: { status: number | null; stderr: string }, names: string) => {
  expect(r.status).toBe(1)
  const lines = r.stderr.trim().split("\n").filter((l) => l !== "(run cdp --help for usage)")
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatch(/^(cdp|error):/)
  expect(lines[0]).toContain(names)
  expect(r.stderr).not.toMatch(/\n\s+at /)
}
