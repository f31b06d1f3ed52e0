// The ES module build, for bundlers: `import { create } from ".../widget.mjs"`;
// `create().init({ endpoint, key })`. It configures nothing by itself.

export { create, version, type FeedbackLoop } from "./api";
export type { Options, Reason } from "./config";
