import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.{ts,tsx}'],
    environment: 'jsdom',
    // The stale-types test runs the Python app to dump its OpenAPI document.
    testTimeout: 20_000,
  },
});
