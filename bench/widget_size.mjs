// The widget's size beside what other feedback clients add to a page, all measured the same
// way: bundled from their npm packages with esbuild (minified, browser, ES2020), then gzip -9.
//
//   node bench/widget_size.mjs            (needs widget/node_modules: cd widget && npm ci)
//
// The other packages are installed into a temporary folder, never into the repository.

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const require = createRequire(new URL("../widget/package.json", import.meta.url));
const esbuild = require("esbuild");

const OURS = new URL("../feedback_loop/static/feedback_loop/widget.js", import.meta.url);
const PACKAGES = ["@sentry/browser", "langfuse"];
const ENTRIES = {
  "Sentry: SDK + feedback integration": `import { init, feedbackIntegration } from "@sentry/browser";
    init({ dsn: "https://key@example.invalid/1", integrations: [feedbackIntegration()] });`,
  "Sentry: feedback integration alone (over the SDK)": null,
  "Sentry: SDK alone": `import { init } from "@sentry/browser";
    init({ dsn: "https://key@example.invalid/1" });`,
  "Langfuse: browser client (LangfuseWeb)": `import { LangfuseWeb } from "langfuse";
    window.lf = new LangfuseWeb({ publicKey: "pk-lf-x" });`,
};

const gz = (code) => gzipSync(code, { level: 9 }).length;
const dir = mkdtempSync(join(tmpdir(), "fl-size-"));
try {
  writeFileSync(join(dir, "package.json"), '{"private": true}');
  console.log(`installing ${PACKAGES.join(", ")} into a temporary folder...`);
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--silent", ...PACKAGES], {
    cwd: dir,
    stdio: "inherit",
  });
  const version = (name) =>
    JSON.parse(readFileSync(join(dir, "node_modules", name, "package.json"), "utf8")).version;
  const sizes = {};
  for (const [label, source] of Object.entries(ENTRIES)) {
    if (source === null) continue;
    const entry = join(dir, "entry.js");
    writeFileSync(entry, source);
    const result = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      minify: true,
      format: "iife",
      platform: "browser",
      target: ["es2020"],
      write: false,
      legalComments: "none",
      logLevel: "error",
    });
    const code = result.outputFiles[0].contents;
    sizes[label] = { min: code.length, gzip: gz(code) };
  }
  const sdk = sizes["Sentry: SDK alone"];
  const both = sizes["Sentry: SDK + feedback integration"];
  sizes["Sentry: feedback integration alone (over the SDK)"] = {
    min: both.min - sdk.min,
    gzip: both.gzip - sdk.gzip,
  };
  const ours = readFileSync(OURS);
  const rows = [
    ["django-feedback-loop widget.js", ours.length, gz(ours)],
    ...Object.keys(ENTRIES).map((label) => [label, sizes[label].min, sizes[label].gzip]),
  ];
  const lines = [
    `Sizes (bytes), @sentry/browser ${version("@sentry/browser")}, langfuse ${version("langfuse")}`,
    "",
    "| bundle | minified | min+gzip |",
    "|---|---:|---:|",
    ...rows.map(([label, min, gzip]) => `| ${label} | ${min.toLocaleString("en")} | ${gzip.toLocaleString("en")} |`),
  ];
  // The widget's budget (widget/size.mjs) keeps it under 40% of Sentry's feedback integration.
  const share = (gz(ours) / sizes["Sentry: feedback integration alone (over the SDK)"].gzip) * 100;
  lines.push("", `widget.js is ${share.toFixed(1)}% of Sentry's feedback integration alone, min+gzip (under 40%)`);
  console.log(lines.join("\n"));
  const results = new URL("./results/", import.meta.url);
  mkdirSync(results, { recursive: true });
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  writeFileSync(
    new URL(`widget-size-${stamp}.json`, results),
    JSON.stringify({ versions: { sentry: version("@sentry/browser"), langfuse: version("langfuse") },
      sizes: Object.fromEntries(rows.map(([label, min, gzip]) => [label, { min, gzip }])) }, null, 2),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
