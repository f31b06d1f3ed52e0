// Prints the widget's size as every visitor downloads it: minified and gzipped (level 9).
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const LIMIT = 6144;
const file = new URL("../feedback_loop/static/feedback_loop/widget.js", import.meta.url);
const code = readFileSync(file);
const gz = gzipSync(code, { level: 9 }).length;
console.log(`widget.js: ${code.length} bytes minified, ${gz} bytes min+gzip (budget ${LIMIT})`);
if (gz > LIMIT) {
  console.error(`over budget by ${gz - LIMIT} bytes`);
  process.exit(1);
}
