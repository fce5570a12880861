// The console's charts: console/charts.js with uPlot bundled in, and uPlot's stylesheet,
// written to consent_service/static/console/. `--check` builds in memory and fails unless the
// committed files are exactly the build (CI runs it, like the snippet's check).
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const OUT = new URL("../consent_service/static/console/", import.meta.url);
const check = process.argv.includes("--check");
const result = await build({
  entryPoints: [new URL("console/charts.js", import.meta.url).pathname],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["chrome91", "firefox90", "safari15"],
  legalComments: "none",
  write: false,
});
const outputs = {
  "charts.js": "/*! uPlot (c) Leon Sorokin, MIT License */\n" + result.outputFiles[0].text,
  "uplot.css": readFileSync(new URL("node_modules/uplot/dist/uPlot.min.css", import.meta.url), "utf8"),
};
let failed = false;
mkdirSync(OUT, { recursive: true });
for (const [name, code] of Object.entries(outputs)) {
  const gzip = gzipSync(Buffer.from(code), { level: 9 }).length;
  console.log(`console/${name.padEnd(10)} ${String(code.length).padStart(6)} B  ${String(gzip).padStart(5)} B gzip`);
  const target = new URL(name, OUT);
  if (check) {
    let committed = "";
    try {
      committed = readFileSync(target, "utf8");
    } catch {}
    if (committed != code) {
      console.error(`console/${name}: differs from the build; run npm run build`);
      failed = true;
    }
  } else writeFileSync(target, code);
}
process.exit(failed ? 1 : 0);
