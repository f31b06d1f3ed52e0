import { beforeEach, describe, expect, it, vi } from "vitest";
import { create, type FeedbackLoop, version } from "../src/api";
import type { WireEvent } from "../src/transport";
import { answer, part, settle, toolbars } from "./helpers";

const ENDPOINT = "https://example.com/feedback/api/v1/events";
const init = { endpoint: ENDPOINT, key: "pk_live", sessionId: "s1", flushDelay: 60_000 };

/** A capture endpoint that accepts everything, recording each body it got. */
function server(status: "accepted" | "rejected" = "accepted") {
  const bodies: { key: string; events: WireEvent[] }[] = [];
  const fetch = vi.fn(async (_url: string, request: RequestInit) => {
    const body = JSON.parse(request.body as string);
    bodies.push(body);
    return Response.json({
      results: body.events.map((e: WireEvent) => ({
        event_id: e.event_id,
        status,
        ...(status === "rejected" ? { error: { code: "invalid_token", message: "bad" } } : {}),
      })),
    });
  });
  vi.stubGlobal("fetch", fetch);
  return { fetch, bodies };
}

function recorder(api: FeedbackLoop) {
  const log: Record<string, unknown[]> = { queued: [], sent: [], rejected: [], error: [] };
  for (const name of ["queued", "sent", "rejected", "error"] as const) api.on(name, (d) => log[name].push(d));
  return log;
}

let api: FeedbackLoop;
beforeEach(() => {
  api = create();
});

describe("FeedbackLoop API", () => {
  it("has the documented methods and a version", () => {
    for (const name of ["init", "attach", "thumbs", "rate", "edit", "regenerate", "copy", "track", "flush", "on"])
      expect(typeof (api as unknown as Record<string, unknown>)[name]).toBe("function");
    expect(api.version).toBe(version);
  });

  it("keeps calls made before init and runs them after it, in order", async () => {
    const log = recorder(api);
    api.thumbs("t1", -1, { reasons: ["format"], comment: "a wall of text" });
    api.rate("t1", 2);
    await api.flush();
    expect(log.queued).toEqual([]);
    expect(api.init(init)).toBe(api);
    expect((log.queued as WireEvent[]).map((e) => [e.kind, e.value])).toEqual([
      ["thumbs", -1],
      ["rating", 2],
    ]);
    expect(log.queued[0]).toMatchObject({ reasons: ["format"], comment: "a wall of text", trace_id: "t1" });
  });

  it("reports an init without endpoint or key through on('error'), without throwing", () => {
    const errors: unknown[] = [];
    api.on("error", (e) => errors.push(e));
    expect(() => api.init({ key: "pk_1" })).not.toThrow();
    expect(() => api.init({ endpoint: ENDPOINT })).not.toThrow();
    expect(errors).toHaveLength(2);
    expect(String(errors[0])).toMatch(/endpoint and key are required/);
    // A later, good init still works, and runs the calls that waited.
    const log = recorder(api);
    api.thumbs("t1", 1);
    api.init(init);
    expect(log.queued).toHaveLength(1);
  });

  it("ignores a second init", async () => {
    const { bodies } = server();
    api.init(init);
    api.init({ ...init, key: "pk_other", endpoint: "https://elsewhere.test/e" });
    api.thumbs("t1", 1);
    await api.flush();
    expect(bodies[0].key).toBe("pk_live");
  });

  it("sends the queued events as one text/plain body to the endpoint on flush", async () => {
    const { fetch, bodies } = server();
    const log = recorder(api);
    api.init({ ...init, userId: "u1" });
    api.thumbs("t1", 1);
    api.edit("t1", "The corrected answer");
    await api.flush();
    expect(fetch).toHaveBeenCalledTimes(1);
    const [url, request] = fetch.mock.calls[0];
    expect(url).toBe(ENDPOINT);
    expect((request.headers as Record<string, string>)["Content-Type"]).toMatch(/^text\/plain/);
    expect(bodies[0].key).toBe("pk_live");
    expect(bodies[0].events.map((e) => e.kind)).toEqual(["thumbs", "edit"]);
    expect(bodies[0].events[0]).toMatchObject({ trace_id: "t1", value: 1, session_id: "s1", user_id: "u1" });
    expect(bodies[0].events[0].timestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(bodies[0].events[1]).toMatchObject({ text: "The corrected answer", metadata: { text_format: "source" } });
    expect(log.sent).toHaveLength(2);
    expect(log.sent[0]).toMatchObject({ status: "accepted", event: { kind: "thumbs" } });
  });

  it("edit says whether the text is the answer's source (the default) or its rendered text", () => {
    const log = recorder(api);
    api.init(init);
    api.edit("t1", "**Paris**");
    api.edit("t1", "Paris", "rendered");
    expect((log.queued as WireEvent[]).map((e) => e.metadata)).toEqual([
      { text_format: "source" },
      { text_format: "rendered" },
    ]);
  });

  it("reports rejected events through on('rejected') and on('error')", async () => {
    server("rejected");
    const log = recorder(api);
    api.init(init);
    api.thumbs("t1", 1);
    await api.flush();
    expect(log.rejected).toHaveLength(1);
    expect(log.rejected[0]).toMatchObject({ status: "rejected", error: { code: "invalid_token" } });
    expect(log.error).toEqual([{ code: "invalid_token", message: "bad" }]);
    expect(log.sent).toEqual([]);
  });

  it("sends at most 100 events per request, whatever batchSize says", async () => {
    const { bodies } = server();
    api.init({ ...init, batchSize: 500 });
    for (let i = 0; i < 150; i++) api.track("custom", "t" + i, { name: "n" });
    await api.flush();
    expect(bodies[0].events).toHaveLength(100);
  });

  it("regenerate links the new answer to the one it replaced", () => {
    const log = recorder(api);
    api.init(init);
    api.regenerate("t1", { newTraceId: "t2" });
    api.thumbs("t2", 1);
    api.regenerate("t2");
    const [regen, vote, plain] = log.queued as WireEvent[];
    expect(regen).toMatchObject({ kind: "regenerate", trace_id: "t1", metadata: { new_trace_id: "t2" } });
    expect(vote).toMatchObject({ kind: "thumbs", trace_id: "t2", metadata: { regenerated_from: "t1" } });
    expect(plain).toMatchObject({ kind: "regenerate", trace_id: "t2" });
  });

  it("copy sends the text only when copyText is on", () => {
    const log = recorder(api);
    api.init(init);
    api.copy("t1", "Paris");
    expect(log.queued[0]).toMatchObject({ kind: "copy", metadata: { length: 5 } });
    expect((log.queued[0] as WireEvent).text).toBeUndefined();
    const other = create();
    const log2 = recorder(other);
    other.init({ ...init, copyText: true });
    other.copy("t1", "Paris");
    expect(log2.queued[0]).toMatchObject({ kind: "copy", text: "Paris" });
  });

  it("copy computes the share of the answer the text is, when the page shows it", async () => {
    document.body.append(answer("t1", "Paris is the capital of France."));
    const log = recorder(api);
    api.init(init);
    api.copy("t1", "Paris");
    api.copy("elsewhere", "Paris");
    expect((log.queued as WireEvent[]).map((e) => e.metadata)).toEqual([{ length: 5, share: 0.161 }, { length: 5 }]);
  });

  it("track sends a custom event with the given fields", () => {
    const log = recorder(api);
    api.init(init);
    api.track("custom", "t1", { name: "shared_link", metadata: { to: "slack" } });
    expect(log.queued[0]).toMatchObject({ kind: "custom", trace_id: "t1", name: "shared_link", metadata: { to: "slack" } });
  });

  it("attach draws a toolbar for an element the page names, also before init", async () => {
    const el = document.createElement("div");
    el.textContent = "An answer";
    document.body.append(el);
    api.attach(el, { traceId: "t5", token: "tok" });
    expect(toolbars()).toHaveLength(0);
    const log = recorder(api);
    api.init(init);
    await settle();
    expect(toolbars()).toHaveLength(1);
    part(toolbars()[0], "up").click();
    expect(log.queued[0]).toMatchObject({ trace_id: "t5", token: "tok" });
  });

  it("draws toolbars for the answers on the page at init", () => {
    document.body.append(answer("t1"), answer("t2"));
    api.init(init);
    expect(toolbars()).toHaveLength(2);
  });

  it("a method that fails reports through on('error') instead of throwing", () => {
    const errors: unknown[] = [];
    api.on("error", (e) => errors.push(e));
    api.init(init);
    expect(() => api.attach(null as unknown as Element)).not.toThrow();
    expect(errors).toHaveLength(1);
  });

  it("a listener that throws does not break the widget or the other listeners", async () => {
    const { bodies } = server();
    const seen: unknown[] = [];
    api.on("queued", () => {
      throw new Error("host bug");
    });
    api.on("sent", () => {
      throw new Error("host bug");
    });
    api.on("queued", (e) => seen.push(e));
    api.init(init);
    expect(() => api.thumbs("t1", 1)).not.toThrow();
    expect(seen).toHaveLength(1);
    await expect(api.flush()).resolves.toBeUndefined();
    expect(bodies).toHaveLength(1);
  });

  it("an error listener that throws does not make init throw", () => {
    api.on("error", () => {
      throw new Error("host bug");
    });
    expect(() => api.init({})).not.toThrow();
    expect(() => api.init(init)).not.toThrow();
  });
});
