import { defineConfig } from 'vitest/config';

// Integration suites start real processes, sockets and browsers: run files one at a time
// (CI has 2 cores) with generous timeouts. Tests assert on results, never on wall time.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'bench/**'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
