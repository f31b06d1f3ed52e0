// The script-tag build: configures itself from the tag's data-* attributes, then replays the
// calls a page made to a stub before the script loaded:
//   window.FeedbackLoop = window.FeedbackLoop || new Proxy({q: []}, {get: (t, k) =>
//     k in t ? t[k] : (...a) => t.q.push([k, a])});

import { create } from "./api";
import { fromScript } from "./config";

type Stub = { q?: [string, unknown[]][] };

const w = window as unknown as { FeedbackLoop?: unknown };
const stub = w.FeedbackLoop as Stub | undefined;
const calls = (stub && Array.isArray(stub.q) && stub.q) || [];
const api = create();
w.FeedbackLoop = api;

const script = document.currentScript as HTMLScriptElement | null;
const fromTag = script ? fromScript(script) : {};
const early = calls.find(([name]) => name === "init");
if (early) early[1][0] = { ...fromTag, ...(early[1][0] as object) };
else if (fromTag.key) api.init(fromTag);
for (const [name, args] of calls) {
  const method = (api as unknown as Record<string, (...a: unknown[]) => unknown>)[name];
  if (method) method(...args);
}
