import { defineConfig } from "vitest/config"

// chdb must never load in worker_threads (the process segfaults when a worker exits), hence forks.
export default defineConfig({
  test: {
    pool: "forks",
    // Two test files at a time even on two cores (vitest's default there is one): most files wait on subprocesses,
    // servers and timeouts more than they compute, so CI's wall time falls while each file's CPU-bound checks hold.
    // CDP_TEST_WORKERS sets another count (1 to run files one after another).
    maxWorkers: Number(process.env["CDP_TEST_WORKERS"] ?? 2),
    include: ["test/**/*.test.ts"],
    // Unpacks the browser tests' Chromium (from npm, no system browser) once, before test files run in parallel; makes
    // the run's migrated warehouse, which tests copy instead of migrating their own (test/support/warehouse-template.ts).
    globalSetup: ["test/support/chromium-setup.ts", "test/support/warehouse-template-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
