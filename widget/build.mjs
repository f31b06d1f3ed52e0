// Builds the widget with esbuild, then terser:
//   ../feedback_loop/static/feedback_loop/widget.js   minified IIFE for the <script> tag
//   ../feedback_loop/static/feedback_loop/widget.mjs  ES module for bundlers
// and the npm package's files in dist/: the same two builds, the .d.ts types (tsc) and the
// license.
//   node build.mjs           all of it
//   node build.mjs --check   builds in memory; fails if the committed static files differ
//   node build.mjs --dist    dist/ only (npm pack runs this: packing changes no tracked file)
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import * as esbuild from "esbuild";
import { minify } from "terser";

const require = createRequire(import.meta.url);
const check = process.argv.includes("--check");
const distOnly = process.argv.includes("--dist");
const statics = new URL("../feedback_loop/static/feedback_loop/", import.meta.url);
const dist = new URL("./dist/", import.meta.url);
const common = {
  bundle: true,
  minify: true,
  target: ["es2020"],
  legalComments: "none",
  write: false,
  charset: "utf8",
  // Internal property names start with "_" and are shortened (as preact does with its
  // mangle.json): every byte is downloaded by every visitor. Public names (options, API
  // methods, event fields, anything stored) never start with "_".
  mangleProps: /^_/,
};
const builds = [
  { entryPoints: ["src/index.ts"], format: "iife", file: "widget.js" },
  { entryPoints: ["src/esm.ts"], format: "esm", file: "widget.mjs" },
];

if (!check) {
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(dist);
}
let stale = false;
for (const { file, ...options } of builds) {
  const result = await esbuild.build({ ...common, ...options });
  // A second pass with terser saves about 3% gzipped over esbuild's own minifier.
  const squeezed = await minify(result.outputFiles[0].text, {
    module: options.format === "esm",
    compress: { passes: 3 },
    format: { comments: false },
  });
  // No license banner: every byte is downloaded by every visitor; the license ships with
  // the package.
  const code = squeezed.code + "\n";
  const target = new URL(file, statics);
  if (check) {
    let committed = "";
    try {
      committed = readFileSync(target, "utf8");
    } catch {}
    if (committed !== code) {
      console.error(`${file} is out of date: run \`npm run build\` in widget/ and commit it.`);
      stale = true;
    } else console.log(`${file} matches the source`);
    continue;
  }
  if (!distOnly) {
    writeFileSync(target, code);
    console.log(`wrote ${file} (${code.length} bytes)`);
  }
  writeFileSync(new URL(file, dist), code);
}
if (!check) {
  // The types of the ES module's exports, one .d.ts per source module.
  const tsc = new URL("bin/tsc", pathToFileURL(require.resolve("typescript/package.json")));
  execFileSync(process.execPath, [tsc.pathname, "-p", "tsconfig.types.json"], { stdio: "inherit" });
  copyFileSync(new URL("../LICENSE", import.meta.url), new URL("LICENSE", dist));
  console.log("wrote dist/ (widget.js, widget.mjs, types/, LICENSE)");
}
process.exit(stale ? 1 : 0);
