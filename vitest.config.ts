import { defineConfig } from "vitest/config"

/**
 * Two groups, one after the other: everything else in parallel (two forks), then the tests that measure
 * pacing against the emulator's limits, alone, so other test files do not steal the CPU their timing needs.
 */
const paced = ["test/streams/Sending.test.ts", "test/services/Mailings.test.ts"]

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: "functional",
          include: ["test/**/*.test.ts"],
          exclude: paced,
          fileParallelism: true,
          sequence: { groupOrder: 0 }
        }
      },
      {
        extends: true,
        test: {
          name: "paced",
          include: paced,
          fileParallelism: false,
          sequence: { groupOrder: 1 }
        }
      }
    ]
  }
})
