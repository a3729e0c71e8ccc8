import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    // The test files of one worker share its module cache (importing the server once per worker,
    // not once per file, took the suite from ~600 s to ~470 s here). So a file leaves the process
    // as it found it: real timers back (vi.useRealTimers), env and cwd restored (test/cli/in-process.ts).
    isolate: false,
    // The JSON report (git-ignored) is what .ci/run reads to list the ten slowest files.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
  },
});
