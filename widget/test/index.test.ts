// The script-tag entry: configures itself from its <script> tag and replays the calls a page
// made to the loader stub before the widget arrived.
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { FeedbackLoop } from "../src/api";
import type { WireEvent } from "../src/transport";
import { answer, toolbars } from "./helpers";

type Stub = { q: [string, unknown[]][] };

/** The loader snippet pages paste before the script tag. */
function loaderStub(): FeedbackLoop & Stub {
  const w = window as unknown as { FeedbackLoop?: unknown };
  w.FeedbackLoop =
    w.FeedbackLoop ||
    new Proxy({ q: [] } as Stub, {
      get: (t, k) => (k in t ? t[k as keyof Stub] : (...a: unknown[]) => t.q.push([k as string, a])),
    });
  return w.FeedbackLoop as FeedbackLoop & Stub;
}

function scriptTag(attrs: Record<string, string>) {
  const script = document.createElement("script");
  for (const name in attrs) script.setAttribute(name, attrs[name]);
  document.head.append(script);
  Object.defineProperty(document, "currentScript", { configurable: true, value: script });
  return script;
}

async function load() {
  await import("../src/index");
  return (window as unknown as { FeedbackLoop: FeedbackLoop }).FeedbackLoop;
}

function server() {
  const bodies: { key: string; events: WireEvent[] }[] = [];
  const fetch = vi.fn(async (_url: string, request: RequestInit) => {
    const body = JSON.parse(request.body as string);
    bodies.push(body);
    return Response.json({ results: body.events.map((e: WireEvent) => ({ event_id: e.event_id, status: "accepted" })) });
  });
  vi.stubGlobal("fetch", fetch);
  return { fetch, bodies };
}

beforeEach(() => {
  vi.resetModules();
  document.head.querySelectorAll("script").forEach((s) => s.remove());
});

describe("script-tag entry", () => {
  it("replays a stub's queued calls, init first among them", async () => {
    const { fetch, bodies } = server();
    const stub = loaderStub();
    const queued: WireEvent[] = [];
    stub.on("queued", (e) => queued.push(e as WireEvent));
    stub.init({ endpoint: "https://example.com/feedback/api/v1/events", key: "pk_stub", flushDelay: 60_000 });
    stub.thumbs("t1", 1);
    stub.rate("t1", 5);
    expect(stub.q).toHaveLength(4);

    const api = await load();
    expect(api).not.toBe(stub);
    expect(typeof api.thumbs).toBe("function");
    expect(queued.map((e) => [e.kind, e.trace_id, e.value])).toEqual([
      ["thumbs", "t1", 1],
      ["rating", "t1", 5],
    ]);
    await api.flush();
    expect(fetch.mock.calls[0][0]).toBe("https://example.com/feedback/api/v1/events");
    expect(bodies[0].key).toBe("pk_stub");
  });

  it("replays calls made before the stub's init call, too", async () => {
    const stub = loaderStub();
    const queued: WireEvent[] = [];
    stub.thumbs("t1", -1);
    stub.on("queued", (e) => queued.push(e as WireEvent));
    stub.init({ endpoint: "/feedback/api/v1/events", key: "pk_stub", flushDelay: 60_000 });
    await load();
    // The thumbs call waited for init; the listener was registered by then.
    expect(queued.map((e) => e.value)).toEqual([-1]);
  });

  it("configures itself from its script tag", async () => {
    const { bodies } = server();
    document.body.append(answer("t1"));
    scriptTag({
      "data-endpoint": "https://example.com/feedback/api/v1/events",
      "data-key": "pk_tag",
      "data-flush-delay": "60000",
      "data-user-id": "u1",
    });
    const api = await load();
    expect(toolbars()).toHaveLength(1);
    api.thumbs("t1", 1);
    await api.flush();
    expect(bodies[0].key).toBe("pk_tag");
    expect(bodies[0].events[0]).toMatchObject({ kind: "thumbs", user_id: "u1" });
  });

  it("merges the stub's init options over the script tag's", async () => {
    const { bodies } = server();
    scriptTag({ "data-endpoint": "https://example.com/feedback/api/v1/events", "data-key": "pk_tag" });
    const stub = loaderStub();
    stub.init({ userId: "u2", flushDelay: 60_000 });
    stub.thumbs("t1", 1);
    const api = await load();
    await api.flush();
    expect(bodies).toHaveLength(1);
    expect(bodies[0].key).toBe("pk_tag");
    expect(bodies[0].events[0].user_id).toBe("u2");
  });

  it("replays a stub's calls after initialising from the tag", async () => {
    server();
    scriptTag({ "data-endpoint": "/feedback/api/v1/events", "data-key": "pk_tag", "data-flush-delay": "60000" });
    const stub = loaderStub();
    const queued: WireEvent[] = [];
    stub.on("queued", (e) => queued.push(e as WireEvent));
    stub.track("custom", "t1", { name: "opened" });
    await load();
    expect(queued).toHaveLength(1);
    expect(queued[0]).toMatchObject({ kind: "custom", name: "opened" });
  });

  it("without a key anywhere, waits for the page to call init", async () => {
    scriptTag({ "data-endpoint": "/feedback/api/v1/events" });
    const api = await load();
    const errors: unknown[] = [];
    api.on("error", (e) => errors.push(e));
    const queued: unknown[] = [];
    api.on("queued", (e) => queued.push(e));
    api.thumbs("t1", 1);
    expect(queued).toEqual([]);
    expect(errors).toEqual([]);
    api.init({ endpoint: "/feedback/api/v1/events", key: "pk_late", flushDelay: 60_000 });
    expect(queued).toHaveLength(1);
  });

  it("loads without any stub or tag, and does not throw", async () => {
    const api = await load();
    expect(typeof api.init).toBe("function");
  });
});
