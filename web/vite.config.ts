// `npm run web` (scripts/web.mjs) builds the page with this into dist-web/: static files that
// any web server can host, relative paths only, so the folder works from any URL prefix.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  logLevel: "warn",
  build: {
    outDir: fileURLToPath(new URL("../dist-web/", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    // binaryen (Asyncify, for interleaving guests) is one 14 MB module; it is one chunk, loaded at start.
    chunkSizeWarningLimit: 16_000,
  },
});
