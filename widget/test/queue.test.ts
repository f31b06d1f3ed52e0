import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createQueue, type Hooks, PREFIX, type QueueOptions } from "../src/queue";
import type { Answer, Result, WireEvent } from "../src/transport";
import { answering, FullStorage, fakeLocks, MemoryStorage, type Send, serve, settle, useStorage, wire } from "./helpers";

const ENDPOINT = "https://feedback.test/api/v1/events";

type Setup = Partial<QueueOptions> & {
  storage?: Storage | null;
  send?: ReturnType<typeof vi.fn<Send>>;
  ready?: Hooks["_ready"];
  keep?: (result: Result) => boolean;
};

function setup({
  storage = new MemoryStorage(),
  send = vi.fn<Send>(answering()),
  ready = () => true,
  keep = () => false,
  ...over
}: Setup = {}) {
  const settled: [WireEvent, Result][] = [];
  const errors: unknown[] = [];
  const hooks: Hooks = {
    _ready: ready,
    _settled: (event, result) => (keep(result) ? false : void settled.push([event, result])),
    _error: (error) => errors.push(error),
  };
  useStorage(storage);
  serve(send);
  const before = new Set(storage ? keys(storage) : []);
  const queue = createQueue({ endpoint: ENDPOINT, key: "pk_1", batchSize: 50, flushDelay: 500, ...over }, hooks);
  const sent = () => send.mock.calls.map(([, payload]) => JSON.parse(payload as string));
  /** The storage key of this tab's outbox: the one it wrote (once it has written). */
  const mine = () => keys(storage!).find((k) => k.startsWith(PREFIX) && !before.has(k))!;
  /** The events waiting in this tab's outbox in storage. */
  const pending = () => (mine() ? saved(storage, mine())! : []);
  return { queue, send, storage, settled, errors, sent, mine, pending };
}

const keys = (storage: Storage) => Array.from({ length: storage.length }, (_, i) => storage.key(i)!);

const saved = (storage: Storage | null | undefined, name: string) =>
  JSON.parse(storage!.getItem(name) || "null")?.q as WireEvent[] | undefined;

const ids = (events: WireEvent[]) => events.map((e) => e.event_id);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("outbox", () => {
  it("saves each event to storage as it is pushed, under this tab's key", () => {
    const { queue, mine, pending } = setup();
    queue._push(wire(1));
    expect(mine().startsWith(PREFIX + "pk_1:")).toBe(true);
    expect(ids(pending())).toEqual(["e1"]);
    queue._push(wire(2));
    expect(ids(pending())).toEqual(["e1", "e2"]);
  });

  it("gives each tab its own key, so two tabs never overwrite each other", () => {
    const storage = new MemoryStorage();
    const a = setup({ storage });
    a.queue._push(wire(1));
    const b = setup({ storage });
    b.queue._push(wire(2));
    expect(a.mine()).not.toBe(b.mine());
    expect(ids(a.pending())).toEqual(["e1"]);
    expect(ids(b.pending())).toEqual(["e2"]);
  });

  it("uses localStorage", () => {
    const queue = createQueue(
      { endpoint: ENDPOINT, key: "pk_1", batchSize: 50, flushDelay: 500 },
      { _ready: () => true, _settled() {}, _error() {} },
    );
    queue._push(wire(1));
    const key = Object.keys(localStorage).find((k) => k.startsWith(PREFIX + "pk_1:"))!;
    expect(ids(saved(localStorage, key)!)).toEqual(["e1"]);
  });
});

describe("flush", () => {
  it("sends one batch with the key and the events, after the flush delay", async () => {
    const { queue, send, sent } = setup();
    queue._push(wire(1));
    queue._push(wire(2));
    await vi.advanceTimersByTimeAsync(499);
    expect(send).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(send).toHaveBeenCalledTimes(1);
    expect(send.mock.calls[0][0]).toBe(ENDPOINT);
    expect(sent()[0]).toEqual({ key: "pk_1", events: [wire(1), wire(2)] });
  });

  it("removes the events the server answered for, whatever the status, and reports each", async () => {
    const { queue, settled, pending, mine } = setup({
      send: vi.fn<Send>(async (): Promise<Answer> => ({
        status: 200,
        retryAfter: 0,
        results: [
          { event_id: "e1", status: "accepted" },
          { event_id: "e2", status: "duplicate" },
          { event_id: "e3", status: "rejected", error: { code: "invalid_token", message: "bad token" } },
        ],
      })),
    });
    for (const n of [1, 2, 3]) queue._push(wire(n));
    await queue._flush();
    expect(pending()).toEqual([]);
    expect(mine()).toBeUndefined();
    expect(settled.map(([e, r]) => [e.event_id, r.status])).toEqual([
      ["e1", "accepted"],
      ["e2", "duplicate"],
      ["e3", "rejected"],
    ]);
    expect(settled[2][1].error?.code).toBe("invalid_token");
  });

  it("keeps an event the server did not answer for", async () => {
    const send = vi.fn<Send>(async (): Promise<Answer> => ({
      status: 200,
      retryAfter: 0,
      results: [{ event_id: "e1", status: "accepted" }],
    }));
    const { queue, settled, pending } = setup({ send });
    queue._push(wire(1));
    queue._push(wire(2));
    await queue._flush();
    expect(ids(pending())).toEqual(["e2"]);
    expect(settled).toHaveLength(1);
  });

  it("sends in batches of batchSize, one request at a time", async () => {
    const { queue, send, sent, pending } = setup({ batchSize: 2 });
    for (const n of [1, 2, 3, 4, 5]) queue._push(wire(n));
    await vi.advanceTimersByTimeAsync(500);
    // Each answer schedules the next batch at once.
    for (let i = 0; i < 3; i++) await vi.advanceTimersByTimeAsync(1);
    expect(sent().map((b) => ids(b.events))).toEqual([["e1", "e2"], ["e3", "e4"], ["e5"]]);
    expect(send).toHaveBeenCalledTimes(3);
    expect(pending()).toEqual([]);
  });

  it("does not send a second request while one is in flight", async () => {
    let answer!: (a: Answer) => void;
    const send = vi.fn<Send>(() => new Promise<Answer>((resolve) => (answer = resolve)));
    const { queue, pending } = setup({ send });
    queue._push(wire(1));
    const first = queue._flush();
    await queue._flush();
    expect(send).toHaveBeenCalledTimes(1);
    answer({ status: 200, retryAfter: 0, results: [{ event_id: "e1", status: "accepted" }] });
    await first;
    expect(pending()).toEqual([]);
  });

  it("does nothing with an empty outbox", async () => {
    const { queue, send } = setup();
    await queue._flush();
    expect(send).not.toHaveBeenCalled();
  });
});

describe("retries", () => {
  it.each([
    ["a network error", () => Promise.reject(new TypeError("Failed to fetch"))],
    ["408", async () => ({ status: 408, retryAfter: 0 })],
    ["429", async () => ({ status: 429, retryAfter: 0 })],
    ["500", async () => ({ status: 500, retryAfter: 0 })],
    ["503", async () => ({ status: 503, retryAfter: 0 })],
  ])("keeps the events and retries after %s", async (_name, failure) => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const ok = answering();
    const send = vi.fn<Send>(failure as Send);
    const { queue, settled, pending } = setup({ send });
    queue._push(wire(1));
    await queue._flush();
    expect(ids(pending())).toEqual(["e1"]);
    expect(settled).toEqual([]);
    send.mockImplementation(ok);
    // First retry: within [500, 1000] ms.
    await vi.advanceTimersByTimeAsync(499);
    expect(send).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(501);
    expect(send).toHaveBeenCalledTimes(2);
    expect(pending()).toEqual([]);
    expect(settled.map(([e, r]) => [e.event_id, r.status])).toEqual([["e1", "accepted"]]);
  });

  it("waits exponentially longer after each failure, with jitter, and starts over after a success", async () => {
    const random = vi.spyOn(Math, "random").mockReturnValue(0);
    const send = vi.fn<Send>(async (): Promise<Answer> => ({ status: 503, retryAfter: 0 }));
    const { queue, pending } = setup({ send });
    queue._push(wire(1));
    await queue._flush();
    const times: number[] = [];
    let last = Date.now();
    for (let i = 0; i < 5; i++) {
      const before = send.mock.calls.length;
      while (send.mock.calls.length === before) await vi.advanceTimersByTimeAsync(50);
      times.push(Date.now() - last);
      last = Date.now();
    }
    // With Math.random() = 0 each wait is half its ceiling: 500, 1000, 2000, 4000, 8000.
    expect(times).toEqual([500, 1000, 2000, 4000, 8000]);

    // A success resets the attempt count: the next failure waits the shortest time again.
    send.mockImplementationOnce(answering());
    random.mockReturnValue(0.999);
    await vi.advanceTimersByTimeAsync(32_000);
    expect(pending()).toEqual([]);
    queue._push(wire(2));
    await queue._flush();
    const before = send.mock.calls.length;
    await vi.advanceTimersByTimeAsync(999);
    expect(send.mock.calls.length).toBe(before + 1);
  });

  it("honours Retry-After", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    const send = vi.fn<Send>(async (): Promise<Answer> => ({ status: 429, retryAfter: 30 }));
    const { queue, pending } = setup({ send });
    queue._push(wire(1));
    await queue._flush();
    send.mockImplementation(answering());
    await vi.advanceTimersByTimeAsync(29_999);
    expect(send).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(send).toHaveBeenCalledTimes(2);
    expect(pending()).toEqual([]);
  });

  it("an explicit flush does not wait for the backoff", async () => {
    const send = vi.fn<Send>(async (): Promise<Answer> => ({ status: 503, retryAfter: 60 }));
    const { queue, pending } = setup({ send });
    queue._push(wire(1));
    await queue._flush();
    send.mockImplementation(answering());
    await queue._flush();
    expect(send).toHaveBeenCalledTimes(2);
    expect(pending()).toEqual([]);
    // And the cancelled retry does not fire later.
    await vi.advanceTimersByTimeAsync(120_000);
    expect(send).toHaveBeenCalledTimes(2);
  });
});

describe("full batches", () => {
  it("sends a full batch at once, without waiting for flushDelay", async () => {
    const { queue, send, sent, pending } = setup({ batchSize: 3, flushDelay: 60_000 });
    queue._push(wire(1));
    queue._push(wire(2));
    expect(send).not.toHaveBeenCalled();
    queue._push(wire(3));
    await settle();
    expect(ids(sent()[0].events)).toEqual(["e1", "e2", "e3"]);
    expect(pending()).toEqual([]);
  });
});

describe("rejected batches", () => {
  it.each([400, 415])("drops the batch on %i and reports each event as rejected", async (status) => {
    const send = vi.fn<Send>(async (): Promise<Answer> => ({ status, retryAfter: 0 }));
    const { queue, storage, settled, pending } = setup({ send, batchSize: 2 });
    for (const n of [1, 2, 3]) queue._push(wire(n)); // the second push fills a batch: it goes
    await settle();
    expect(send).toHaveBeenCalledTimes(1);
    expect(ids(pending())).toEqual(["e3"]);
    expect(settled.map(([e, r]) => [e.event_id, r.status, r.error?.code])).toEqual([
      ["e1", "rejected", "http_" + status],
      ["e2", "rejected", "http_" + status],
    ]);
    // The rest goes on being sent (and, with the same answer, dropped too).
    await vi.advanceTimersByTimeAsync(1);
    expect(send).toHaveBeenCalledTimes(2);
    expect(pending()).toEqual([]);
  });
});

describe("a page the server refuses", () => {
  const refusing = (status: number, code: string) =>
    vi.fn<Send>(async () => ({ status, retryAfter: 0, error: { code, message: "No." } }));

  it.each([
    [401, "invalid_key"],
    [403, "origin_not_allowed"],
  ])("stops on %i (readable, same origin), keeps the events, reports once and warns once", async (status, code) => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const beacon = vi.spyOn(navigator, "sendBeacon").mockReturnValue(true);
    const send = refusing(status, code);
    const { queue, errors, settled, pending } = setup({ send });
    queue._push(wire(1));
    await queue._flush();
    queue._push(wire(2));
    await vi.advanceTimersByTimeAsync(120_000);
    await queue._flush();
    queue._beacon();
    expect(send).toHaveBeenCalledTimes(1); // no retries for this page view, no beacons
    expect(beacon).not.toHaveBeenCalled();
    expect(ids(pending())).toEqual(["e1", "e2"]); // kept for a later page
    expect(settled).toEqual([]);
    expect(errors).toEqual([{ code, message: expect.stringContaining("project's origins") }]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/data-key pk_1/);
  });

  it("tells a refusal it cannot read (another origin) from a network that is down", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const send = vi.fn<Send>(() => Promise.reject(new TypeError("Failed to fetch")));
    const { queue, errors, pending } = setup({ send });
    const probes: string[] = [];
    // The server answers (no-cors completes) but the preflight of OPTIONS ?key= fails: refused.
    serve(send, async (url, init) => {
      probes.push(`${init.method || "GET"} ${init.mode || "cors"} ${url}`);
      if (init.mode === "no-cors") return new Response(null, { status: 200 });
      throw new TypeError("Failed to fetch");
    });
    queue._push(wire(1));
    await queue._flush();
    expect(probes).toEqual([`OPTIONS cors ${ENDPOINT}?key=pk_1`, `GET no-cors ${ENDPOINT}`]);
    expect(errors).toEqual([{ code: "refused", message: expect.stringContaining("project's origins") }]);
    expect(warn).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(send).toHaveBeenCalledTimes(1);
    expect(ids(pending())).toEqual(["e1"]);
  });

  it("keeps retrying when the preflight passes (a passing failure), or nothing answers (offline)", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    const send = vi.fn<Send>(() => Promise.reject(new TypeError("Failed to fetch")));
    const { queue, errors } = setup({ send });
    let preflight = true;
    serve(send, async (_url, init) => {
      if (init.method === "OPTIONS" && preflight) return new Response(null, { status: 204 });
      throw new TypeError("Failed to fetch");
    });
    queue._push(wire(1));
    await queue._flush();
    preflight = false; // now offline altogether
    await vi.advanceTimersByTimeAsync(5_000);
    expect(send.mock.calls.length).toBeGreaterThan(2);
    expect(errors).toEqual([]);
  });
});

describe("events that wait", () => {
  it("leaves out of the batches (and beacons) the events that are not ready, and saves what readying filled in", async () => {
    const beacon = vi.spyOn(navigator, "sendBeacon").mockReturnValue(true);
    let open = false;
    const ready = (e: WireEvent) => {
      if (e.trace_id !== "t2") return true;
      if (open) e.token = "tok2";
      return open;
    };
    const { queue, sent, pending } = setup({ ready });
    for (const n of [1, 2, 3]) queue._push(wire(n));
    await queue._flush();
    expect(sent().map((b) => ids(b.events))).toEqual([["e1", "e3"]]);
    expect(ids(pending())).toEqual(["e2"]);
    queue._beacon();
    expect(beacon).not.toHaveBeenCalled(); // nothing ready to go
    await queue._flush();
    expect(sent()).toHaveLength(1); // still nothing: no request for nothing
    open = true;
    await queue._flush();
    expect(sent()[1].events).toEqual([wire(2, { token: "tok2" })]);
    expect(pending()).toEqual([]);
  });

  it("keeps an event whose answer the owner wants to send again", async () => {
    const send = vi.fn<Send>(async (_e, payload) => ({
      status: 200,
      retryAfter: 0,
      results: JSON.parse(payload).events.map((e: WireEvent) => ({
        event_id: e.event_id,
        status: "rejected",
        error: { code: "missing_token", message: "token is required by this project." },
      })),
    }));
    const { queue, settled, pending } = setup({ send, keep: (r) => r.error?.code === "missing_token" });
    queue._push(wire(1));
    await queue._flush();
    expect(settled).toEqual([]);
    expect(ids(pending())).toEqual(["e1"]);
  });
});

describe("batches too large for the server", () => {
  /** A server taking at most `max` events a request (MAX_BATCH_SIZE), answering 413 beyond. */
  const upTo = (max: number) =>
    vi.fn<Send>(async (endpoint, payload) =>
      JSON.parse(payload).events.length > max ? { status: 413, retryAfter: 0 } : answering()(endpoint, payload),
    );

  it("splits a batch the server answers 413 for, until the batches fit, and loses nothing", async () => {
    const send = upTo(3);
    const { queue, sent, settled, pending } = setup({ send, batchSize: 10 });
    for (let n = 1; n <= 10; n++) queue._push(wire(n));
    await vi.advanceTimersByTimeAsync(100);
    expect(sent().map((b) => b.events.length)).toEqual([10, 5, 3, 3, 3, 1]);
    expect(settled.map(([e, r]) => [e.event_id, r.status])).toEqual(
      Array.from({ length: 10 }, (_, i) => ["e" + (i + 1), "accepted"]),
    );
    expect(pending()).toEqual([]);
    // The smaller size stays for the rest of the page's life.
    for (let n = 11; n <= 14; n++) queue._push(wire(n));
    await queue._flush();
    expect(sent().slice(-1)[0].events).toHaveLength(3);
  });

  it("drops a single event the server answers 413 for (it can never fit)", async () => {
    const { queue, settled, pending } = setup({ send: upTo(0) });
    queue._push(wire(1));
    await queue._flush();
    expect(settled.map(([e, r]) => [e.event_id, r.status, r.error?.code])).toEqual([["e1", "rejected", "http_413"]]);
    expect(pending()).toEqual([]);
  });
});

describe("storage fallback", () => {
  it("keeps events in memory when there is no storage", async () => {
    const { queue, sent } = setup({ storage: null });
    queue._push(wire(1));
    queue._push(wire(2));
    await queue._flush();
    expect(ids(sent()[0].events)).toEqual(["e1", "e2"]);
  });

  it.each([
    ["throws on access (storage disabled)", "getter"],
    ["refuses writes", "setItem"],
  ])("falls back to memory when localStorage %s", async (_name, how) => {
    const own = Object.getOwnPropertyDescriptor(window, "localStorage");
    if (how === "getter")
      Object.defineProperty(window, "localStorage", {
        configurable: true,
        get() {
          throw new DOMException("denied", "SecurityError");
        },
      });
    else vi.stubGlobal("localStorage", new FullStorage());
    try {
      const send = serve(vi.fn<Send>(answering()));
      const queue = createQueue(
        { endpoint: ENDPOINT, key: "pk_1", batchSize: 50, flushDelay: 500 },
        { _ready: () => true, _settled() {}, _error() {} },
      );
      queue._push(wire(1));
      await queue._flush();
      expect(send).toHaveBeenCalledTimes(1);
      expect(JSON.parse(send.mock.calls[0][1]).events).toEqual([wire(1)]);
    } finally {
      if (how === "getter" && own) Object.defineProperty(window, "localStorage", own);
    }
  });

  it("keeps working in memory when storage fills up, without losing events", async () => {
    const storage = new MemoryStorage();
    const { queue, errors, sent, settled, send } = setup({ storage });
    storage.setItem = () => {
      throw new DOMException("The quota has been exceeded.", "QuotaExceededError");
    };
    queue._push(wire(1));
    expect(errors).toHaveLength(1);
    expect((errors[0] as DOMException).name).toBe("QuotaExceededError");
    queue._push(wire(2));
    queue._push(wire(3));
    expect(errors).toHaveLength(1); // reported once, not on every event
    await queue._flush();
    expect(ids(sent()[0].events)).toEqual(["e1", "e2", "e3"]);
    expect(settled).toHaveLength(3);
    expect(send).toHaveBeenCalledTimes(1);
  });
});

describe("adoption of closed tabs' outboxes", () => {
  it("takes over an outbox whose lock nobody holds, and sends it; leaves a live tab's alone", async () => {
    const storage = new MemoryStorage();
    const gone = PREFIX + "pk_1:gone";
    const live = PREFIX + "pk_1:live";
    const other = PREFIX + "pk_2:gone";
    storage.setItem(gone, JSON.stringify({ t: 1, q: [wire(1), wire(2)] }));
    storage.setItem(live, JSON.stringify({ t: 1, q: [wire(3)] }));
    storage.setItem(other, JSON.stringify({ t: 1, q: [wire(4)] }));
    storage.setItem("unrelated", "x");
    const locks = fakeLocks([live]);
    const { sent, pending } = setup({ storage });
    // This tab holds its own outbox's lock for as long as it lives.
    expect(locks.request).toHaveBeenCalledWith(expect.stringMatching(PREFIX + "pk_1:"), expect.any(Function));
    await settle();
    expect(ids(pending())).toEqual(["e1", "e2"]);
    expect(storage.getItem(gone)).toBeNull();
    expect(storage.getItem(live)).not.toBeNull();
    expect(storage.getItem(other)).not.toBeNull(); // another project's key
    expect(storage.getItem("unrelated")).toBe("x");
    await vi.advanceTimersByTimeAsync(1);
    expect(sent().map((b) => ids(b.events))).toEqual([["e1", "e2"]]);
    expect(sent()[0].key).toBe("pk_1");
  });

  it("does not take the same event twice", async () => {
    const storage = new MemoryStorage();
    storage.setItem(PREFIX + "pk_1:a", JSON.stringify({ t: 1, q: [wire(1), wire(2)] }));
    storage.setItem(PREFIX + "pk_1:b", JSON.stringify({ t: 1, q: [wire(2), wire(3)] }));
    fakeLocks([]);
    const { pending } = setup({ storage });
    await settle();
    expect(ids(pending()).sort()).toEqual(["e1", "e2", "e3"]);
  });

  it("skips a corrupt outbox and reports it", async () => {
    const storage = new MemoryStorage();
    storage.setItem(PREFIX + "pk_1:bad", "{not json");
    storage.setItem(PREFIX + "pk_1:good", JSON.stringify({ t: 1, q: [wire(1)] }));
    fakeLocks([]);
    const { errors, pending } = setup({ storage });
    await settle();
    expect(ids(pending())).toEqual(["e1"]);
    expect(errors).toHaveLength(1);
    expect(storage.getItem(PREFIX + "pk_1:bad")).toBeNull();
  });

  it("adopts nothing without Web Locks", async () => {
    const storage = new MemoryStorage();
    storage.setItem(PREFIX + "pk_1:gone", JSON.stringify({ t: 1, q: [wire(1)] }));
    const { send, pending } = setup({ storage });
    await settle();
    await vi.advanceTimersByTimeAsync(1000);
    expect(pending()).toEqual([]);
    expect(send).not.toHaveBeenCalled();
    expect(storage.getItem(PREFIX + "pk_1:gone")).not.toBeNull();
  });
});

describe("beacon", () => {
  it("hands every event to sendBeacon when the page goes away, and keeps them until answered", async () => {
    const beacon = vi.spyOn(navigator, "sendBeacon").mockReturnValue(true);
    // The full first batch went out by fetch at once; the page leaves before it is answered.
    const send = vi.fn<Send>(() => new Promise(() => {}));
    const { queue, pending } = setup({ batchSize: 2, send });
    for (const n of [1, 2, 3]) queue._push(wire(n));
    expect(send).toHaveBeenCalledTimes(1);
    queue._beacon();
    expect(beacon).toHaveBeenCalledTimes(2);
    const bodies = await Promise.all(beacon.mock.calls.map(([, blob]) => (blob as Blob).text()));
    expect(bodies.map((b) => ids(JSON.parse(b).events))).toEqual([["e1", "e2"], ["e3"]]);
    expect(JSON.parse(bodies[0]).key).toBe("pk_1");
    expect(beacon.mock.calls[0][0]).toBe(ENDPOINT);
    expect(ids(pending())).toEqual(["e1", "e2", "e3"]);
    expect(send).toHaveBeenCalledTimes(1);
  });

  it("falls back to a request when the browser refuses the beacon", async () => {
    vi.spyOn(navigator, "sendBeacon").mockReturnValue(false);
    const { queue, send } = setup();
    queue._push(wire(1));
    queue._beacon();
    await settle();
    expect(send).toHaveBeenCalledTimes(1);
  });

  it("sends nothing when the outbox is empty", () => {
    const beacon = vi.spyOn(navigator, "sendBeacon").mockReturnValue(true);
    const { queue, send } = setup();
    queue._beacon();
    expect(beacon).not.toHaveBeenCalled();
    expect(send).not.toHaveBeenCalled();
  });
});
