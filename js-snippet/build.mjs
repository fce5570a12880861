// Builds the banner runtime, the stub and the forms script into the Python package, prints their sizes and fails
// over budget. `node build.mjs --check` builds in memory and fails unless the committed files
// are byte for byte what the sources give (CI runs it).
import { build, transform } from "esbuild";
import { minify } from "terser";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { brotliCompressSync, gzipSync } from "node:zlib";

const OUT = new URL("../consent_service/static/snippet/", import.meta.url);
const PLACEHOLDER = {
  "runtime.js": "__CONSENT_SITE__",
  "forms.js": "__CONSENT_FORMS__",
  "forms-loader.js": "__CONSENT_FORMS_SRC__",
  "platforms.js": "__CONSENT_PLATFORMS__",
};
// bytes, gzip -9. forms-loader.js is appended to the banner script of sites that have forms;
// forms.js loads only on pages with a <form data-consent-form>.
// platforms.js (the ad platforms' consent adapters) is appended only for sites whose services
// need it.
const BUDGET = {
  "runtime.js": 6000,
  "stub.js": 400,
  "forms.js": 3000,
  "forms-loader.js": 300,
  "platforms.js": 600,
};
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
const outputs = {
  "runtime.js": await bundle("src/main.js", { __CSS__: JSON.stringify(css.code.trim()) }),
  "stub.js": await bundle("src/stub.js"),
  "forms.js": await bundle("src/forms-main.js"),
  "forms-loader.js": await bundle("src/forms-loader.js"),
  "platforms.js": await bundle("src/platforms.js"),
};

let failed = false;
mkdirSync(OUT, { recursive: true });
for (const [name, code] of Object.entries(outputs)) {
  const bytes = Buffer.from(code);
  const gzip = gzipSync(bytes, { level: 9 }).length;
  const brotli = brotliCompressSync(bytes).length;
  const over = gzip > (BUDGET[name] ?? Infinity);
  console.log(
    `${name.padEnd(15)} ${String(bytes.length).padStart(6)} B  ${String(gzip).padStart(5)} B gzip` +
      `  ${String(brotli).padStart(5)} B brotli  (budget ${BUDGET[name]} gzip)${over ? "  OVER BUDGET" : ""}`,
  );
  failed ||= over;
  if (PLACEHOLDER[name] && code.split(PLACEHOLDER[name]).length != 2) {
    console.error(`${name} must contain ${PLACEHOLDER[name]} exactly once`);
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
