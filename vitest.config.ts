import { defineConfig } from 'vitest/config';

/**
 * Two projects: most spec files run two at a time (many wait on sockets, child processes and real-time
 * deadlines rather than compute); the cluster specs, which share one Redis and one Ceph RGW and start
 * node processes of their own, run one at a time after them. One file at a time for everything (Vitest's
 * default on a 2-core machine) took 10.7 minutes; every spec two at a time made the three-node contract fail.
 */
// A poll waits for something a real server, socket or browser does; its default second was too short when two
// spec files (one of them Chromium) share 2 cores (the demo page's image upload was still 'sending' at 1 s).
const shared = { testTimeout: 60_000, hookTimeout: 60_000, expect: { poll: { timeout: 15_000 } } } as const;

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: 'main',
          include: ['spec/**/*.spec.ts'],
          exclude: ['spec/cluster/**', '**/node_modules/**'],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: 'cluster',
          include: ['spec/cluster/**/*.spec.ts'],
          // Gives the run's S3 lifecycle rules back at its end (a test bucket takes 1,000).
          globalSetup: ['spec/cluster/lifecycle-teardown.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
