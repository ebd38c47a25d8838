import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    // two cores: keep files in one fork pool so WebAssembly memories stay modest
    pool: "forks",
    globalSetup: ["test/setup/chromium.ts"],
  },
});
