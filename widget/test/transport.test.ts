import { describe, expect, it, vi } from "vitest";
import { BEACON_BYTES, backoff, beacon, body, chunks, post, retriable } from "../src/transport";
import { wire } from "./helpers";

const utf8 = (s: string) => new TextEncoder().encode(s).length;

describe("body", () => {
  it("is the capture envelope with the key in it", () => {
    expect(JSON.parse(body("pk_1", [wire(1)]))).toEqual({ key: "pk_1", events: [wire(1)] });
  });
});

describe("chunks", () => {
  it("keeps order and splits by batch size", () => {
    const events = Array.from({ length: 7 }, (_, i) => wire(i));
    const out = chunks("pk", events, 3);
    expect(out.map((b) => b.map((e) => e.event_id))).toEqual([
      ["e0", "e1", "e2"],
      ["e3", "e4", "e5"],
      ["e6"],
    ]);
  });

  it("returns nothing for no events", () => {
    expect(chunks("pk", [], 50)).toEqual([]);
  });

  it("keeps every body within 64 KiB", () => {
    // 10 events of ~20 KB each: at most three fit in one body.
    const events = Array.from({ length: 10 }, (_, i) => wire(i, { text: "x".repeat(20_000) }));
    const out = chunks("pk_live", events, 50);
    expect(out.flat().map((e) => e.event_id)).toEqual(events.map((e) => e.event_id));
    expect(out.length).toBe(4);
    for (const batch of out) expect(body("pk_live", batch).length).toBeLessThanOrEqual(BEACON_BYTES);
  });

  it("counts bytes, not characters, against the 64 KiB limit", () => {
    // An edit in Chinese: 3 bytes per character in UTF-8, as the body goes on the wire.
    const events = Array.from({ length: 6 }, (_, i) => wire(i, { kind: "edit", text: "答".repeat(8_000) }));
    const out = chunks("pk", events, 50);
    expect(out.flat()).toHaveLength(6);
    for (const batch of out) expect(utf8(body("pk", batch))).toBeLessThanOrEqual(BEACON_BYTES);
  });

  it("sends an event bigger than the limit on its own rather than losing it", () => {
    const big = wire(2, { text: "x".repeat(BEACON_BYTES) });
    const out = chunks("pk", [wire(1), big, wire(3)], 50);
    expect(out.map((b) => b.map((e) => e.event_id))).toEqual([["e1"], ["e2"], ["e3"]]);
  });

  it("honours a custom byte limit", () => {
    const events = Array.from({ length: 4 }, (_, i) => wire(i));
    const one = body("pk", [events[0]]).length;
    const out = chunks("pk", events, 50, one * 2);
    expect(out.length).toBeGreaterThan(1);
    for (const batch of out) expect(body("pk", batch).length).toBeLessThanOrEqual(one * 2);
  });
});

describe("post", () => {
  it("sends a text/plain POST (no CORS preflight) and returns the server's results", async () => {
    const results = [{ event_id: "e1", status: "accepted" }];
    const fetch = vi.fn(async () => Response.json({ accepted: 1, duplicates: 0, rejected: 0, results }));
    vi.stubGlobal("fetch", fetch);
    const payload = body("pk", [wire(1)]);
    const answer = await post("https://x.test/e", payload);
    expect(answer).toEqual({ status: 200, retryAfter: 0, results });
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("https://x.test/e");
    expect(init.method).toBe("POST");
    expect(init.body).toBe(payload);
    expect((init.headers as Record<string, string>)["Content-Type"]).toMatch(/^text\/plain/);
    expect(init.keepalive).toBe(true);
  });

  it("reads Retry-After from a throttled answer and has no results", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () =>
        Response.json({ error: { code: "throttled", message: "slow down" } }, { status: 429, headers: { "Retry-After": "7" } }),
      ),
    );
    expect(await post("/e", "{}")).toEqual({
      status: 429,
      retryAfter: 7,
      results: undefined,
      error: { code: "throttled", message: "slow down" },
    });
  });

  it("does not ask for keepalive for a body browsers would refuse to keep alive", async () => {
    const fetch = vi.fn(async () => Response.json({ results: [] }));
    vi.stubGlobal("fetch", fetch);
    await post("/e", "x".repeat(BEACON_BYTES + 1));
    await post("/e", "答".repeat(30_000)); // 90,000 bytes in UTF-8
    for (const call of fetch.mock.calls) expect((call as unknown as [string, RequestInit])[1].keepalive).toBe(false);
  });

  it("rejects on a network error, so that the queue retries", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    await expect(post("/e", "{}")).rejects.toThrow("Failed to fetch");
  });
});

describe("beacon", () => {
  it("hands each body to sendBeacon as text/plain", async () => {
    const send = vi.spyOn(navigator, "sendBeacon").mockReturnValue(true);
    expect(beacon("https://x.test/e", ["a", "b"])).toBe(true);
    expect(send).toHaveBeenCalledTimes(2);
    const [url, blob] = send.mock.calls[1] as [string, Blob];
    expect(url).toBe("https://x.test/e");
    expect(blob.type).toMatch(/^text\/plain/);
    expect(await blob.text()).toBe("b");
  });

  it("is false when the browser refuses a body, and stops there", () => {
    const send = vi.spyOn(navigator, "sendBeacon").mockReturnValue(false);
    expect(beacon("/e", ["a", "b"])).toBe(false);
    expect(send).toHaveBeenCalledTimes(1);
  });

  it("is false when sendBeacon throws", () => {
    vi.spyOn(navigator, "sendBeacon").mockImplementation(() => {
      throw new TypeError("Illegal invocation");
    });
    expect(beacon("/e", ["a"])).toBe(false);
  });
});

describe("retriable", () => {
  it.each([0, 408, 429, 500, 502, 503, 504])("retries %i", (status) => {
    expect(retriable(status)).toBe(true);
  });
  it.each([400, 401, 403, 404, 413, 415, 422])("gives up on %i", (status) => {
    expect(retriable(status)).toBe(false);
  });
});

describe("backoff", () => {
  it("grows exponentially and stays within [ceiling/2, ceiling]", () => {
    const random = vi.spyOn(Math, "random");
    for (let attempt = 0; attempt < 6; attempt++) {
      const ceiling = 1000 * 2 ** attempt;
      random.mockReturnValue(0);
      expect(backoff(attempt)).toBe(ceiling / 2);
      random.mockReturnValue(0.999999);
      expect(backoff(attempt)).toBeLessThanOrEqual(ceiling);
      expect(backoff(attempt)).toBeGreaterThan(ceiling * 0.99);
    }
  });

  it("jitters: the same attempt does not always wait the same", () => {
    const waits = new Set(Array.from({ length: 20 }, () => backoff(3)));
    expect(waits.size).toBeGreaterThan(1);
    for (const wait of waits) {
      expect(wait).toBeGreaterThanOrEqual(4000);
      expect(wait).toBeLessThanOrEqual(8000);
    }
  });

  it("is capped", () => {
    for (const attempt of [6, 10, 30, 1000]) {
      const wait = backoff(attempt);
      expect(wait).toBeGreaterThanOrEqual(30_000);
      expect(wait).toBeLessThanOrEqual(60_000);
    }
    expect(backoff(20, 0, 500, 5000)).toBeLessThanOrEqual(5000);
  });

  it("never waits less than Retry-After asks", () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    expect(backoff(0, 30)).toBe(30_000);
    expect(backoff(10, 120)).toBe(120_000);
    // A short Retry-After does not shorten the backoff.
    expect(backoff(5, 1)).toBe(16_000);
  });
});
