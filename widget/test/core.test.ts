import { describe, expect, it, vi } from "vitest";
import { createCore, uuid } from "../src/core";
import type { WireEvent } from "../src/transport";
import { options } from "./helpers";

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
