import os from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's own default is one file less than the cores: on 2 cores, one
    // file at a time (23 min). Most suites wait on real servers, agents,
    // databases and brokers rather than compute, so one more file than the
    // cores runs (14 min on 2 cores); at most 4, for the database's and the
    // broker's connections.
    maxWorkers: Math.min(4, os.availableParallelism() + 1),
  },
});
