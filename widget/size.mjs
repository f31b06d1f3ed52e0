// Prints the widget's size as every visitor downloads it: minified and gzipped (level 9).
// widget.js is everything a page loads (the widget fetches nothing more), so its size is the
// budget's measure; bench/widget_size.mjs compares it with Sentry's feedback integration.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const LIMIT = 7168;
const file = new URL("../feedback_loop/static/feedback_loop/widget.js", import.meta.url);
const code = readFileSync(file);
const gz = gzipSync(code, { level: 9 }).length;
console.log(`widget.js: ${code.length} bytes minified, ${gz} bytes min+gzip (budget ${LIMIT})`);
if (gz > LIMIT) {
  console.error(`over budget by ${gz - LIMIT} bytes`);
  process.exit(1);
}
