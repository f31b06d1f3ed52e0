// Builds the widget with esbuild:
//   ../feedback_loop/static/feedback_loop/widget.js   minified IIFE for the <script> tag
//   ../feedback_loop/static/feedback_loop/widget.mjs  ES module for bundlers
// `node build.mjs --check` builds in memory and fails if the committed files differ.
import { readFileSync, writeFileSync } from "node:fs";
import * as esbuild from "esbuild";
import { minify } from "terser";

const out = new URL("../feedback_loop/static/feedback_loop/", import.meta.url);
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
  const target = new URL(file, out);
  if (process.argv.includes("--check")) {
    let committed = "";
    try {
      committed = readFileSync(target, "utf8");
    } catch {}
    if (committed !== code) {
      console.error(`${file} is out of date: run \`npm run build\` in widget/ and commit it.`);
      stale = true;
    } else console.log(`${file} matches the source`);
  } else {
    writeFileSync(target, code);
    console.log(`wrote ${file} (${code.length} bytes)`);
  }
}
process.exit(stale ? 1 : 0);
