// The hub: what the widget knows about each trace, turning user actions into queued events.

import { shown } from "./answer";
import { type Options, type Strings, strings } from "./config";
import { memory } from "./memory";
import { createQueue, type Queue } from "./queue";
import type { Result, WireEvent } from "./transport";

export interface TraceState {
  id: string;
  _token?: string;
  /** Current thumbs: 1, -1 or 0. */
  _vote: number;
  _rating: number;
  /** The user gave any signal on this answer (so leaving is not abandonment). */
  _signaled?: boolean;
  /** When the answer appeared on this page, for abandonment. */
  _at?: number;
  _abandoned?: boolean;
  /** The trace this answer regenerated. */
  _from?: string;
  /** Event id of the latest vote, whose answer decides "thanks" or "not sent". */
  _last?: string;
  _status: "" | "thanks" | "failed";
  /** Repaint the toolbars that show this trace. */
  _paint: Set<() => void>;
  /** Some of its events wait for its token. */
  _held?: boolean;
  /** The element that shows it now (the latest, after re-renders). */
  _el?: Element;
  /** When its content last changed (while it streams). */
  _changed?: number;
  /** Its output (the answer as shown) went with an event. */
  _out?: boolean;
}

/** Whether an answer is still changing: it changed in the last second (it streams). */
export const changing = (st: TraceState) => Date.now() - (st._changed || 0) < 1000;

type Listener = (detail: unknown) => void;

export function uuid(): string {
  if (crypto.randomUUID) return crypto.randomUUID();
  // Pages on plain http (other than localhost) have no randomUUID; a blob URL ends in a v4 UUID.
  const url = URL.createObjectURL(new Blob());
  URL.revokeObjectURL(url);
  return url.slice(-36);
}

function sessionId(): string {
  try {
    let id = sessionStorage.getItem("fl:s");
    if (!id) sessionStorage.setItem("fl:s", (id = uuid()));
    return id;
  } catch {
    return uuid();
  }
}

export interface Core {
  o: Options;
  s: Strings;
  /** Whether the page captures this signal (data-signals). */
  _has(signal: string): boolean;
  _queue: Queue;
  /** The newest answer first seen on this page: the only one leaving can abandon. */
  _newest?: TraceState;
  _on(name: string, callback: Listener): void;
  _emit(name: string, detail: unknown): void;
  _state(id: string): TraceState;
  /** Queue an event; `auto` marks one the user did not make (not a signal for abandonment). */
  _track(kind: string, id: string, fields?: Record<string, unknown>, auto?: 1): string;
  _vote(id: string, value: number, extra?: { reasons?: string[]; comment?: string }): void;
  /** Press a thumb: the same thumb again retracts the vote. Returns the new vote. */
  _flip(id: string, value: number): number;
  _rate(id: string, value: number): void;
  /** The page is being hidden or left: mark an abandoned answer, hand the outbox over. */
  _leave(staying?: boolean): void;
  /** A copy of `text` from the answer, whose share of `whole` (default: the answer as shown)
   * is sent. */
  _copy(id: string, text: string, whole?: string): void;
  /** The answer's token is known (or changed): events waiting for it go. */
  _token(st: TraceState, token: string): void;
}

export function createCore(o: Options): Core {
  const traces = new Map<string, TraceState>();
  const listeners: Record<string, Listener[]> = {};
  const session = o.sessionId || sessionId();
  /** Whether events need a token: as the tag says (true from init(), "true" from the tag), else
   * learnt from a missing_token answer. A streaming answer often gets its token only with its
   * last chunk, after the user voted. */
  let needsToken = "" + o.requireToken === "true";
  /** The page is being left: what can go goes now, streaming or not. */
  let leaving = false;

  const emit = (name: string, detail: unknown) => {
    for (const callback of listeners[name] || []) {
      try {
        callback(detail);
      } catch {
        // A host's listener must not break the widget either.
      }
    }
  };

  const pressed = memory(o.key);
  const state = (id: string): TraceState => {
    let st = traces.get(id);
    if (!st) {
      // What the user pressed on an earlier page shows again (and was a signal).
      const [vote, rating] = pressed._recall(id) || [0, 0];
      traces.set(id, (st = { id, _vote: vote, _rating: rating, _signaled: !!(vote || rating), _status: "", _paint: new Set() }));
    }
    return st;
  };

  const paint = (st: TraceState) => {
    for (const repaint of st._paint) repaint();
  };

  const track = (kind: string, id: string, fields: Record<string, unknown> = {}, auto?: 1) => {
    const st = state(id);
    if (!auto) st._signaled = true;
    // Fields left undefined are dropped by JSON.stringify.
    const event: WireEvent = {
      event_id: uuid(),
      trace_id: id,
      kind,
      timestamp: new Date().toISOString(),
      session_id: session,
      user_id: o.userId || undefined,
      token: st._token,
      ...fields,
    };
    if (st._from)
      event.metadata = { regenerated_from: st._from, ...(event.metadata as object | undefined) };
    queue._push(event);
    emit("queued", event);
    return event.event_id;
  };

  /** A vote or rating replaces the user's previous one; its answer decides "thanks". */
  const decide = (id: string, kind: string, fields: Record<string, unknown>) => {
    const st = state(id);
    pressed._keep(id, st._vote, st._rating);
    st._status = "";
    st._last = track(kind, id, fields);
    paint(st);
  };

  const queue = createQueue(o, {
    _ready(event) {
      const st = traces.get(event.trace_id);
      event.token ||= st?._token;
      // An event waits for its token while its answer is on the page (where it may come); one
      // left from an earlier page whose answer is not here goes, and is refused for good.
      if (!event.token && needsToken && st?._el) {
        st._held = true;
        return false;
      }
      // The first event of a trace to go takes the answer as shown, for a trace the host did
      // not register; not while it still streams: it goes a moment later, with all of it.
      if (st?._el && !st._out) {
        if (changing(st) && !leaving) {
          setTimeout(queue._flush, 1000);
          return false;
        }
        st._out = true;
        event.output = shown(st._el).slice(0, o.maxTextChars);
      }
      return true;
    },
    _settled(event: WireEvent, result: Result) {
      if (result.error?.code === "missing_token" && !event.token && traces.get(event.trace_id)?._el) {
        needsToken = true;
        return false; // it goes again once its trace's token is known
      }
      const rejected = result.status === "rejected";
      emit(rejected ? "rejected" : "sent", { event, ...result });
      if (rejected) emit("error", result.error);
      const st = traces.get(event.trace_id);
      if (st && st._last === event.event_id) {
        st._status = rejected ? "failed" : "thanks";
        paint(st);
      }
    },
    _error: (error) => emit("error", error),
  });

  return {
    o,
    s: strings(o),
    _has: (signal) => o.signals.includes(signal),
    _queue: queue,
    _on: (name, callback) => (listeners[name] ||= []).push(callback),
    _emit: emit,
    _state: state,
    _track: track,
    _vote(id, value, extra = {}) {
      state(id)._vote = value;
      decide(id, "thumbs", { value, ...extra });
    },
    _flip(id, value) {
      const next = state(id)._vote === value ? 0 : value;
      this._vote(id, next);
      return next;
    },
    _rate(id, value) {
      state(id)._rating = value;
      decide(id, "rating", { value });
    },
    _leave(staying) {
      // Only the newest answer can be abandoned, and not when the user is moving on in the
      // conversation (a server-rendered chat's next question).
      const st = this._newest;
      const now = Date.now();
      if (
        st &&
        !staying &&
        !st._signaled &&
        !st._abandoned &&
        now - st._at! < o.abandonAfter * 1000 &&
        this._has("abandon")
      ) {
        st._abandoned = true;
        track("abandon", st.id, { metadata: { after_ms: now - st._at! } }, 1);
      }
      leaving = true;
      queue._beacon();
      leaving = false;
    },
    _copy(id, text, whole) {
      const el = state(id)._el;
      whole ??= el && shown(el);
      track("copy", id, {
        text: o.copyText ? text : undefined,
        metadata: { length: text.length, share: whole ? +Math.min(1, text.length / whole.length).toFixed(3) : undefined },
      });
    },
    _token(st, token) {
      st._token = token;
      if (st._held) {
        st._held = false;
        queue._flush();
      }
    },
  };
}
