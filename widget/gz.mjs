import * as esbuild from "esbuild";
import { minify } from "terser";
import { gzipSync } from "node:zlib";
const r = await esbuild.build({ entryPoints: ["src/index.ts"], bundle: true, minify: true, target: ["es2020"], legalComments: "none", write: false, charset: "utf8", format: "iife", mangleProps: /^_/ });
const out = await minify(r.outputFiles[0].text, { compress: { passes: 3 }, format: { comments: false } });
console.log(gzipSync(out.code + "\n", { level: 9 }).length, out.code.length);
