import { defineConfig } from "vitest/config"

// chdb must never load in worker_threads (the process segfaults when a worker exits), hence forks.
export default defineConfig({
  test: {
    pool: "forks",
    include: ["test/**/*.test.ts"],
    // Unpacks the browser tests' Chromium (from npm, no system browser) once, before test files run in parallel.
    globalSetup: ["test/support/chromium-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
