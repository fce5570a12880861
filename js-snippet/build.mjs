// Builds the banner runtime and the stub into the Python package, prints their sizes and fails
// over budget. `node build.mjs --check` builds in memory and fails unless the committed files
// are byte for byte what the sources give (CI runs it).
import { build, transform } from "esbuild";
import { minify } from "terser";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { brotliCompressSync, gzipSync } from "node:zlib";

const OUT = new URL("../consent_service/static/snippet/", import.meta.url);
const PLACEHOLDER = "__CONSENT_SITE__";
const BUDGET = { "runtime.js": 6000, "stub.js": 400 }; // bytes, gzip -9
const check = process.argv.includes("--check");

const css = await transform(readFileSync(new URL("src/style.css", import.meta.url), "utf8"), {
  loader: "css",
  minify: true,
});
// esbuild bundles the modules into one scope; terser then minifies that scope as a whole
// (two compress passes, top-level names mangled), a few hundred bytes smaller than esbuild's
// own minifier.
const bundle = async (entry, define = {}) => {
  const result = await build({
    entryPoints: [new URL(entry, import.meta.url).pathname],
    bundle: true,
    format: "iife",
    target: ["chrome91", "firefox90", "safari15"],
    charset: "utf8",
    legalComments: "none",
    write: false,
    define,
  });
  const minified = await minify(result.outputFiles[0].text, {
    ecma: 2020,
    compress: { passes: 2 },
    mangle: { toplevel: true },
    format: { ascii_only: false, comments: false },
  });
  return minified.code;
};
// The banner's built-in words are not part of the runtime: the service puts into each site's
// script only the languages that site uses (consent_service/sites/snippet.py reads this file).
const strings = JSON.stringify(JSON.parse(readFileSync(new URL("src/strings.json", import.meta.url), "utf8")));
const outputs = {
  "runtime.js": await bundle("src/main.js", { __CSS__: JSON.stringify(css.code.trim()) }),
  "stub.js": await bundle("src/stub.js"),
  "strings.json": strings + "\n",
};

let failed = false;
mkdirSync(OUT, { recursive: true });
for (const [name, code] of Object.entries(outputs)) {
  const bytes = Buffer.from(code);
  const gzip = gzipSync(bytes, { level: 9 }).length;
  const brotli = brotliCompressSync(bytes).length;
  const over = gzip > (BUDGET[name] ?? Infinity);
  console.log(
    `${name.padEnd(11)} ${String(bytes.length).padStart(6)} B  ${String(gzip).padStart(5)} B gzip` +
      `  ${String(brotli).padStart(5)} B brotli  (budget ${BUDGET[name] ?? "none"} gzip)${over ? "  OVER BUDGET" : ""}`,
  );
  failed ||= over;
  if (name == "runtime.js" && code.split(PLACEHOLDER).length != 2) {
    console.error(`runtime.js must contain ${PLACEHOLDER} exactly once`);
    failed = true;
  }
  const target = new URL(name, OUT);
  if (check) {
    let committed = "";
    try {
      committed = readFileSync(target, "utf8");
    } catch {}
    if (committed != code) {
      console.error(`${name}: the committed file differs from the build of js-snippet/src; run npm run build`);
      failed = true;
    }
  } else writeFileSync(target, code);
}
process.exit(failed ? 1 : 0);
