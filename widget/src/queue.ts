// The outbox: events wait here, in localStorage, until the server has answered for them.
//
// Each tab keeps its own storage key, so two tabs never overwrite each other's events. A tab
// that starts adopts the outboxes of tabs that are gone (their Web Lock is free); the server's
// idempotency by event_id makes a double send harmless.

import {
  type Answer,
  backoff,
  beacon,
  body,
  chunks,
  post,
  type Result,
  refused,
  retriable,
  type WireEvent,
} from "./transport";

export const PREFIX = "fl:q:";

export interface Hooks {
  /** Whether an event may go now (it may wait for its trace's token); may fill fields in. */
  _ready(event: WireEvent): boolean;
  /** The server answered for an event: accepted, duplicate or rejected. False keeps it in
   * the outbox, to go again. */
  _settled(event: WireEvent, result: Result): boolean | void;
  /** Something went wrong that the host may want to know. */
  _error(error: unknown): void;
}

export interface QueueOptions {
  endpoint: string;
  key: string;
  batchSize: number;
  flushDelay: number;
}

export interface Queue {
  _push(event: WireEvent): void;
  /** Send the next batch now; resolves when the server answered or the try failed. */
  _flush(): Promise<void>;
  /** The page is going away: hand everything to sendBeacon. */
  _beacon(): void;
}

function localStore(): Storage | null {
  try {
    const s = localStorage;
    s.setItem(PREFIX, "1");
    s.removeItem(PREFIX);
    return s;
  } catch {
    return null; // disabled, or blocked by the browser's privacy settings
  }
}

export function createQueue(o: QueueOptions, hooks: Hooks): Queue {
  let items: WireEvent[] = [];
  let store = localStore();
  let attempt = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let sending = false;
  /** The server refused this page (its origin or key): nothing more goes, the events stay. */
  let stopped = false;
  /** Events per request: batchSize, halved whenever the server says a batch is too large. */
  let limit = o.batchSize;
  const scope = PREFIX + o.key + ":";
  const name = scope + Math.random().toString(36).slice(2);

  const save = () => {
    try {
      if (items.length) store?.setItem(name, JSON.stringify({ t: Date.now(), q: items }));
      else store?.removeItem(name);
    } catch (error) {
      store = null; // full: keep going in memory rather than lose events
      hooks._error(error);
    }
  };

  const drop = (ids: Set<string>) => {
    items = items.filter((e) => !ids.has(e.event_id));
    save();
  };

  /** The events that may go now, in batches. */
  const ready = () => {
    const batches = chunks(o.key, items.filter(hooks._ready), limit);
    save(); // with what _ready filled in
    return batches;
  };

  const schedule = (delay: number) => {
    if (timer === undefined && items.length)
      timer = setTimeout(() => {
        timer = undefined;
        flush();
      }, delay);
  };

  const flush = async () => {
    if (sending || stopped || !items.length) return;
    clearTimeout(timer);
    timer = undefined;
    const [batch] = ready();
    if (!batch) return;
    sending = true;
    const answer: Answer = await post(o.endpoint, body(o.key, batch)).catch(() => ({
      status: 0,
      retryAfter: 0,
    }));
    if (!answer.status && (await refused(o.endpoint, o.key))) answer.status = 403;
    sending = false;
    if (answer.results) {
      attempt = 0;
      const byId = new Map(answer.results.map((r) => [r.event_id, r]));
      const done = new Set<string>();
      for (const event of batch) {
        const result = byId.get(event.event_id);
        if (result && hooks._settled(event, result) !== false) done.add(event.event_id);
      }
      drop(done);
      schedule(0);
    } else if (answer.status === 413 && batch.length > 1) {
      // Over MAX_BATCH_SIZE or MAX_BODY_BYTES: the same events go again in smaller batches.
      limit = (batch.length + 1) >> 1;
      schedule(0);
    } else if (answer.status === 401 || answer.status === 403) {
      // For this page view: retrying cannot help, and the events wait for a page that may send.
      stopped = true;
      const error = answer.error || { code: "refused", message: "" };
      error.message = `FeedbackLoop: ${error.code}: allow ${location.origin} in the project's origins, or fix data-key ${o.key}`;
      console.warn(error.message);
      hooks._error(error);
    } else if (retriable(answer.status)) {
      schedule(backoff(attempt++, answer.retryAfter));
    } else {
      // 400, 415, or 413 for one event: the same batch cannot succeed later.
      drop(new Set(batch.map((e) => e.event_id)));
      const error = { code: "http_" + answer.status, message: "HTTP " + answer.status };
      for (const event of batch)
        hooks._settled(event, { event_id: event.event_id, status: "rejected", error });
      schedule(0);
    }
  };

  /** Take over the outboxes of closed tabs: those whose Web Lock nobody holds. */
  const adopt = (held: Set<string>) => {
    if (!store) return;
    for (let i = store.length; i--; ) {
      const k = store.key(i)!;
      if (!k.startsWith(scope) || k === name || held.has(k)) continue;
      try {
        const saved = JSON.parse(store.getItem(k)!);
        const known = new Set(items.map((e) => e.event_id));
        items.push(...saved.q.filter((e: WireEvent) => !known.has(e.event_id)));
      } catch (error) {
        hooks._error(error);
      }
      store.removeItem(k);
    }
    save();
    schedule(0);
  };

  // Held for the life of this tab: a free lock means the outbox's tab is gone. (Browsers
  // without Web Locks, before 2022, deliver other tabs' leftovers only by their beacons.)
  const locks = navigator.locks;
  if (locks) {
    locks.request(name, () => new Promise(() => {})).catch(hooks._error);
    locks
      .query()
      .then((state) => adopt(new Set((state.held || []).map((l) => l.name!))))
      .catch(hooks._error);
  }

  return {
    _push(event) {
      items.push(event);
      save();
      // A full batch goes now (unless a retry is waiting out its backoff).
      if (items.length >= limit && !attempt) flush();
      else schedule(o.flushDelay);
    },
    _flush: flush,
    _beacon() {
      // Events stay in storage until a later page hears the server's answer for them; a
      // repeat is only a duplicate, a loss would be forever.
      if (stopped) return;
      const payloads = ready().map((b) => body(o.key, b));
      if (payloads.length && !beacon(o.endpoint, payloads)) flush();
    },
  };
}
