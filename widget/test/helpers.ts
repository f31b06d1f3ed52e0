import { watched } from "./setup";
import { vi } from "vitest";
import { type Attacher, createAttacher } from "../src/attach";
import { defaults, type Options } from "../src/config";
import { type Core, createCore } from "../src/core";
import { listen } from "../src/signals";
import type { Answer, WireEvent } from "../src/transport";

/** A real, in-memory Storage. */
export class MemoryStorage implements Storage {
  [name: string]: unknown;
  private data = new Map<string, string>();
  get length() {
    return this.data.size;
  }
  clear() {
    this.data.clear();
  }
  getItem(key: string) {
    return this.data.has(key) ? this.data.get(key)! : null;
  }
  key(index: number) {
    return [...this.data.keys()][index] ?? null;
  }
  removeItem(key: string) {
    this.data.delete(key);
  }
  setItem(key: string, value: string) {
    this.data.set(key, String(value));
  }
}

/** A storage that is full: every write throws, as a browser does over its quota. */
export class FullStorage extends MemoryStorage {
  setItem(): void {
    throw new DOMException("The quota has been exceeded.", "QuotaExceededError");
  }
}

export type Send = (endpoint: string, payload: string) => Promise<Answer>;

/** Answers every event in a body with the given status. */
export const answering =
  (status: "accepted" | "duplicate" | "rejected" = "accepted") =>
  async (_endpoint: string, payload: string): Promise<Answer> => ({
    status: 200,
    retryAfter: 0,
    results: (JSON.parse(payload).events as WireEvent[]).map((e) => ({
      event_id: e.event_id,
      status,
    })),
  });

export const wire = (n: number, extra: Record<string, unknown> = {}): WireEvent => ({
  event_id: "e" + n,
  trace_id: "t" + n,
  kind: "thumbs",
  value: 1,
  ...extra,
});

/** Lets pending promise callbacks and MutationObserver deliveries run. */
export async function settle() {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

/** A fake Web Locks API: `held` are the lock names other tabs hold. */
export function fakeLocks(held: string[] = []) {
  const locks = {
    request: vi.fn((_name: string, _callback: () => Promise<unknown>) => new Promise(() => {})),
    query: vi.fn(async () => ({ held: held.map((name) => ({ name, mode: "exclusive" })), pending: [] })),
  };
  Object.defineProperty(navigator, "locks", { configurable: true, value: locks });
  return locks;
}

/** The widget's checks after a network error (an OPTIONS request, a no-cors one): by default
 * they fail too, as when the network is down. */
export type Probe = (url: string, init: RequestInit) => Promise<Response>;
const down: Probe = () => Promise.reject(new TypeError("Failed to fetch"));

/** Serves the page's fetch() from `send`, a capture endpoint in a function: it gets each
 * request's URL and body and gives the answer; a rejection is a network error. */
export function serve<T extends Send>(send: T, probe: Probe = down): T {
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init: RequestInit = {}) => {
      if (init.method === "OPTIONS" || init.mode === "no-cors") return probe(url, init);
      const a = await send(url, init.body as string);
      return new Response(JSON.stringify(a.results ? { results: a.results } : { error: a.error }), {
        status: a.status,
        headers: a.retryAfter ? { "Retry-After": "" + a.retryAfter } : {},
      });
    }),
  );
  return send;
}

/** Makes `storage` the page's localStorage; null: there is none (storage disabled). */
export const useStorage = (storage: Storage | null) => vi.stubGlobal("localStorage", storage);

/** The widget's options plus what a test sets up around it: the page's storage (default: none,
 * events stay in memory) and the capture endpoint (default: accepts everything). */
export type TestOptions = Partial<Options> & { storage?: Storage | null; send?: ReturnType<typeof vi.fn> };

export function options({ storage = null, send, ...over }: TestOptions = {}): Options & { send: ReturnType<typeof vi.fn> } {
  useStorage(storage);
  return {
    ...defaults,
    endpoint: "https://feedback.test/api/v1/events",
    key: "pk_test",
    sessionId: "s1",
    // Nothing leaves by itself during a test unless the test flushes or advances timers.
    flushDelay: 60_000,
    ...over,
    send: serve(send || vi.fn<Send>(answering())),
  };
}

export interface Mounted {
  core: Core;
  attacher: Attacher;
  /** Every event the widget queued, in order. */
  events: WireEvent[];
  /** The capture endpoint: called with each request's URL and body. */
  send: ReturnType<typeof vi.fn>;
}

/** A widget started on the current document, as init() does once the page has loaded. */
export function mount(over: TestOptions = {}): Mounted {
  const { send, ...o } = options(over);
  const core = createCore(o);
  const events: WireEvent[] = [];
  core._on("queued", (e) => events.push(e as WireEvent));
  const attacher = createAttacher(core);
  attacher._start();
  listen(core, attacher);
  return { core, attacher, events, send };
}

/** An answer element as a host page renders it. */
export function answer(trace: string, text = "The answer to " + trace, attrs: Record<string, string> = {}) {
  const el = document.createElement("div");
  el.setAttribute("data-feedback-trace", trace);
  for (const name in attrs) el.setAttribute(name, attrs[name]);
  el.textContent = text;
  return el;
}

/** Report every observed toolbar host that is in the page as visible, so its buttons are drawn
 * (the widget draws toolbars only when they come near the viewport). */
export function drawVisible() {
  for (const { observer, target } of watched.filter((w) => w.target.isConnected))
    observer.callback([{ target, isIntersecting: true } as unknown as IntersectionObserverEntry], observer as never);
}

export const toolbars = (root: ParentNode = document) => {
  drawVisible();
  return [...root.querySelectorAll("[data-feedback-toolbar]")] as HTMLElement[];
};

/** A toolbar's control, by its part name (up, down, star, chip, close, send, comment). */
export function part<T extends Element = HTMLButtonElement>(host: Element, name: string): T {
  drawVisible();
  const el = host.shadowRoot!.querySelector(`[part~=${name}]`);
  if (!el) throw new Error(`no ${name} in the toolbar`);
  return el as T;
}

export const parts = (host: Element, name: string) => {
  drawVisible();
  return [...host.shadowRoot!.querySelectorAll(`[part~=${name}]`)] as HTMLButtonElement[];
};
