import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/replay-every-trace.ts"],
    testTimeout: 60_000,
  },
});
