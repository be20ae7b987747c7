import { defineConfig } from "vitest/config"

// chdb must never load in worker_threads (the process segfaults when a worker exits), hence forks.
export default defineConfig({
  test: {
    pool: "forks",
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
