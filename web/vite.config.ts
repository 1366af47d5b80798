// `npm run web` (scripts/web.mjs) builds the page with this into dist-web/: static files that
// any web server can host, relative paths only, so the folder works from any URL prefix.
import { fileURLToPath } from "node:url";
import { createLogger, defineConfig } from "vite";

// Known, harmless build notes, left out so a new warning stands out: @wasmer/wasi's fallback URL
// for its Wasm (it uses the copy inlined in its bundle), binaryen's Node-only branch, timings.
const KNOWN =
  /wasmer_wasi_js_bg\.wasm|"node:module" has been externalized|PLUGIN_TIMINGS|callbacks are listed|renderChunk|asset-import-meta-url|bundlertimings/;
const logger = createLogger("warn");
const { warn, warnOnce } = logger;
logger.warn = (msg, opts) => {
  if (!KNOWN.test(msg)) warn(msg, opts);
};
logger.warnOnce = (msg, opts) => {
  if (!KNOWN.test(msg)) warnOnce(msg, opts);
};

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  logLevel: "warn",
  customLogger: logger,
  // The machine worker imports binaryen on demand (an image the user adds): a module worker splits it off.
  worker: { format: "es" },
  build: {
    outDir: fileURLToPath(new URL("../dist-web/", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    // binaryen (Asyncify, for images the user adds) is one 13 MB module: one chunk, fetched only then.
    chunkSizeWarningLimit: 16_000,
  },
});
