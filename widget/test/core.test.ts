import { describe, expect, it, vi } from "vitest";
import { createCore, uuid } from "../src/core";
import type { WireEvent } from "../src/transport";
import { answer, answering, mount, options, part, type Send, settle, type TestOptions, toolbars } from "./helpers";

function core(over = {}) {
  const c = createCore(options(over));
  const events: WireEvent[] = [];
  c._on("queued", (e) => events.push(e as WireEvent));
  return { c, events };
}

describe("core", () => {
  it("groups a tab's events under one session id kept in sessionStorage", () => {
    const a = core({ sessionId: "" });
    a.c._vote("t1", 1);
    const b = core({ sessionId: "" }); // the same tab, a later page
    b.c._vote("t1", 1);
    expect(a.events[0].session_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.events[0].session_id).toBe(a.events[0].session_id);
    sessionStorage.clear();
    const c = core({ sessionId: "" });
    c.c._vote("t1", 1);
    expect(c.events[0].session_id).not.toBe(a.events[0].session_id);
  });

  it("uses the page's session id when given one", () => {
    const { c, events } = core({ sessionId: "chat-42" });
    c._track("custom", "t1");
    expect(events[0].session_id).toBe("chat-42");
  });

  it("gives every event a unique id", () => {
    const { c, events } = core();
    for (let i = 0; i < 50; i++) c._track("custom", "t1");
    expect(new Set(events.map((e) => e.event_id)).size).toBe(50);
  });

  it("makes UUIDs without crypto.randomUUID (pages on plain http)", () => {
    const original = crypto.randomUUID;
    Object.defineProperty(crypto, "randomUUID", { configurable: true, value: undefined });
    const blobUrl = vi.spyOn(URL, "createObjectURL");
    try {
      const a = uuid();
      const b = uuid();
      expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(a).not.toBe(b);
      expect(blobUrl).toHaveBeenCalledTimes(2);
    } finally {
      Object.defineProperty(crypto, "randomUUID", { configurable: true, writable: true, value: original });
    }
  });

  it("flip presses a thumb, and the same thumb again retracts it", () => {
    const { c, events } = core();
    expect(c._flip("t1", 1)).toBe(1);
    expect(c._flip("t1", -1)).toBe(-1);
    expect(c._flip("t1", -1)).toBe(0);
    expect(events.map((e) => e.value)).toEqual([1, -1, 0]);
    expect(c._state("t1")._vote).toBe(0);
  });

  it("leaves out the user id unless the page knows it", () => {
    const a = core();
    a.c._vote("t1", 1);
    expect(JSON.parse(JSON.stringify(a.events[0]))).not.toHaveProperty("user_id");
    const b = core({ userId: "u9" });
    b.c._vote("t1", 1);
    expect(b.events[0].user_id).toBe("u9");
  });
});

describe("events waiting for their answer's token", () => {
  /** A capture endpoint that requires tokens, as a project does by default. */
  const strict = () =>
    vi.fn<Send>(async (_url, payload) => ({
      status: 200,
      retryAfter: 0,
      results: JSON.parse(payload).events.map((e: WireEvent) =>
        e.token
          ? { event_id: e.event_id, status: "accepted" }
          : { event_id: e.event_id, status: "rejected", error: { code: "missing_token", message: "token is required" } },
      ),
    }));
  const bodies = (send: ReturnType<typeof vi.fn>) =>
    send.mock.calls.map(([, payload]) => JSON.parse(payload as string).events as WireEvent[]);

  function streaming(over: TestOptions = {}) {
    const el = answer("t1", "The answer so far");
    document.body.append(el);
    const m = mount({ send: strict(), ...over });
    const log = { rejected: [] as unknown[], errors: [] as unknown[] };
    m.core._on("rejected", (r) => log.rejected.push(r));
    m.core._on("error", (e) => log.errors.push(e));
    const host = toolbars()[0];
    const status = () => host.shadowRoot!.querySelector("[role=status]")!.textContent;
    return { ...m, el, host, status, log };
  }

  it("holds a vote until the token arrives when the tag says tokens are required, then sends it with it", async () => {
    const m = streaming({ requireToken: true });
    part(m.host, "up").click();
    await m.core._queue._flush();
    expect(m.send).not.toHaveBeenCalled();
    m.el.setAttribute("data-feedback-token", "tok-final");
    await settle();
    expect(bodies(m.send)).toEqual([[expect.objectContaining({ kind: "thumbs", value: 1, token: "tok-final" })]]);
    await settle();
    expect(m.status()).toBe("Thanks!");
    expect(m.log).toEqual({ rejected: [], errors: [] });
  });

  it("with a tag written by hand, learns from a missing_token answer, keeps the vote and sends it once the token arrives", async () => {
    const m = streaming();
    part(m.host, "up").click();
    part(m.host, "down").click();
    part(m.host, "close").click(); // no reasons
    await m.core._queue._flush();
    expect(bodies(m.send)[0].map((e) => e.token)).toEqual([undefined, undefined]);
    await settle();
    expect(m.status()).toBe(""); // not "Not sent": the votes wait
    expect(m.log).toEqual({ rejected: [], errors: [] });
    await m.core._queue._flush();
    expect(m.send).toHaveBeenCalledTimes(1); // waiting, not retrying
    m.el.setAttribute("data-feedback-token", "tok-final");
    await settle();
    await settle();
    expect(bodies(m.send)[1].map((e) => [e.value, e.token])).toEqual([
      [1, "tok-final"],
      [-1, "tok-final"],
    ]);
    expect(m.status()).toBe("Thanks!");
    // Votes made once the token is known carry it from the start.
    part(m.host, "down").click();
    expect(m.events.at(-1)!.token).toBe("tok-final");
  });

  it("sends at once without a token when the tag says the project does not require tokens", async () => {
    const m = streaming({ requireToken: false, send: vi.fn<Send>(answering()) });
    part(m.host, "up").click();
    await m.core._queue._flush();
    expect(bodies(m.send)[0][0].token).toBeUndefined();
  });

  it("does not keep waiting for a token when the answer is not on the page", async () => {
    const m = streaming({ requireToken: true });
    m.core._vote("elsewhere", 1); // by API, for an answer this page does not show
    part(m.host, "up").click();
    await m.core._queue._flush();
    // The one for the answer on the page waits; the other goes and is refused for good.
    expect(bodies(m.send).map((b) => b.map((e) => [e.trace_id, e.token]))).toEqual([[["elsewhere", undefined]]]);
    expect(m.log.rejected).toHaveLength(1);
    await m.core._queue._flush();
    expect(m.send).toHaveBeenCalledTimes(1);
  });

  it("keeps the toolbar, and its open popover, when only the token changes", async () => {
    const m = streaming({ requireToken: true });
    part(m.host, "down").click();
    expect(m.host.shadowRoot!.querySelector("[part=popover]")!.hidden).toBe(false);
    m.el.setAttribute("data-feedback-token", "tok-final");
    await settle();
    expect(toolbars()).toEqual([m.host]);
    expect(m.host.isConnected).toBe(true);
    expect(m.host.shadowRoot!.querySelector("[part=popover]")!.hidden).toBe(false);
  });
});

describe("the answer as shown, for traces the host did not register", () => {
  const sentEvents = (send: ReturnType<typeof vi.fn>) =>
    send.mock.calls.flatMap(([, payload]) => JSON.parse(payload as string).events as WireEvent[]);

  it("goes once per trace, with the first of its events to leave", async () => {
    document.body.append(answer("t1", "Paris is the capital."), answer("t2", "Rome is."));
    const { core, send } = mount();
    core._vote("t1", 1);
    core._vote("t1", -1);
    await core._queue._flush();
    core._rate("t1", 2);
    core._vote("t2", 1);
    await core._queue._flush();
    expect(sentEvents(send).map((e) => [e.trace_id, e.output])).toEqual([
      ["t1", "Paris is the capital."],
      ["t1", undefined],
      ["t1", undefined],
      ["t2", "Rome is."],
    ]);
  });

  it("is the source when the host gives it, and no longer than MAX_TEXT_CHARS", async () => {
    document.body.append(answer("t1", "Paris", { "data-feedback-source": "**Paris**, the capital" }));
    const { core, send } = mount({ maxTextChars: 9 });
    core._vote("t1", 1);
    await core._queue._flush();
    expect(sentEvents(send)[0].output).toBe("**Paris**");
  });

  it("waits for a streaming answer to settle, then goes whole", async () => {
    vi.useFakeTimers();
    const el = answer("t1", "Paris");
    document.body.append(el);
    const { core, send } = mount();
    el.append(" is");
    await settle();
    core._vote("t1", 1); // mid-stream
    await core._queue._flush();
    expect(send).not.toHaveBeenCalled();
    el.append(" the capital.");
    await settle();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(sentEvents(send).map((e) => e.output)).toEqual(["Paris is the capital."]);
  });

  it("is not sent for a trace the page does not show", async () => {
    const { core, send } = mount();
    core._vote("elsewhere", 1);
    await core._queue._flush();
    expect(sentEvents(send)[0].output).toBeUndefined();
  });
});
