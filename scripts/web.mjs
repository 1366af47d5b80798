// `npm run web`: builds the browser app (web/) into dist-web/ and serves that folder on localhost.
import { build, preview } from "vite";

const config = new URL("../web/vite.config.ts", import.meta.url).pathname;
await build({ configFile: config });
const server = await preview({ configFile: config, preview: { port: Number(process.env.PORT ?? 4173), host: "127.0.0.1" } });
process.stdout.write(
  `tmemvm in the browser: ${server.resolvedUrls?.local[0] ?? "http://127.0.0.1:4173/"} (serving dist-web/; Ctrl-C stops)\n`,
);
