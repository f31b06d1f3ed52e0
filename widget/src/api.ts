// window.FeedbackLoop: the public API. Every method catches its own errors and reports them
// through on("error"); calls made before init() wait for it.

import { type Attacher, type AttachInfo, createAttacher } from "./attach";
import { defaults, type Options } from "./config";
import { type Core, createCore } from "./core";
import { listen } from "./signals";

export const version = "0.1.0";

export interface FeedbackLoop {
  version: string;
  init(options: Partial<Options>): FeedbackLoop;
  attach(element: Element, info?: AttachInfo): void;
  thumbs(traceId: string, value: 1 | -1 | 0, extra?: { reasons?: string[]; comment?: string }): void;
  rate(traceId: string, value: number): void;
  /** The user's version of the answer; `format` says whether it is the answer's source (the
   * default: a host's own editor shows the source) or its rendered text. */
  edit(traceId: string, text: string, format?: "source" | "rendered"): void;
  regenerate(traceId: string, options?: { newTraceId?: string }): void;
  copy(traceId: string, text: string): void;
  track(kind: string, traceId: string, fields?: Record<string, unknown>): void;
  flush(): Promise<void>;
  on(event: "queued" | "sent" | "rejected" | "error", callback: (detail: unknown) => void): void;
}

export function create(): FeedbackLoop {
  let core: Core | undefined;
  let attacher: Attacher | undefined;
  const waiting: [string, unknown[]][] = [];
  const listeners: [string, (detail: unknown) => void][] = [];

  const report = (error: unknown) => {
    if (core) core._emit("error", error);
    else
      for (const [name, callback] of listeners)
        try {
          if (name === "error") callback(error);
        } catch {
          // A host's listener must not break the page's call either.
        }
  };

  const methods = {
    init(options: Partial<Options>) {
      if (core) return api;
      const o: Options = { ...defaults, ...options };
      if (!o.endpoint || !o.key) throw Error("FeedbackLoop: endpoint and key are required");
      o.batchSize = Math.min(o.batchSize, o.maxBatchSize);
      core = createCore(o);
      for (const [name, callback] of listeners) core._on(name, callback);
      attacher = createAttacher(core);
      const start = () => {
        attacher!._start();
        listen(core!, attacher!);
      };
      if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
      else start();
      for (const [name, args] of waiting.splice(0)) call(name, args);
      return api;
    },
    attach: (element: Element, info?: AttachInfo) => attacher!._attach(element, info),
    thumbs: (id: string, value: number, extra?: { reasons?: string[]; comment?: string }) =>
      core!._vote(id, value, extra),
    rate: (id: string, value: number) => core!._rate(id, value),
    edit: (id: string, text: string, format = "source") =>
      core!._track("edit", id, { text, metadata: { text_format: format } }),
    regenerate: (id: string, { newTraceId }: { newTraceId?: string } = {}) => {
      if (newTraceId) core!._state(newTraceId)._from = id;
      core!._track("regenerate", id, newTraceId ? { metadata: { new_trace_id: newTraceId } } : undefined);
    },
    copy: (id: string, text: string) => core!._copy(id, text),
    track: (kind: string, id: string, fields?: Record<string, unknown>) =>
      core!._track(kind, id, fields),
    flush: () => core!._queue._flush(),
    on(name: string, callback: (detail: unknown) => void) {
      listeners.push([name, callback]);
      core?._on(name, callback);
    },
  };

  function call(name: string, args: unknown[]) {
    try {
      if (!core && name !== "init" && name !== "on") {
        waiting.push([name, args]);
        return name === "flush" ? Promise.resolve() : undefined;
      }
      return (methods as Record<string, (...a: unknown[]) => unknown>)[name](...args);
    } catch (error) {
      report(error);
    }
  }

  const api = { version } as FeedbackLoop;
  for (const name of Object.keys(methods))
    (api as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => call(name, args);
  return api;
}
