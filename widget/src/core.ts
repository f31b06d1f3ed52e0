// The hub: what the widget knows about each trace, turning user actions into queued events.

import { type Options, type Strings, strings } from "./config";
import { createQueue, type Queue } from "./queue";
import type { Result, WireEvent } from "./transport";

export interface TraceState {
  id: string;
  token?: string;
  /** Current thumbs: 1, -1 or 0. */
  vote: number;
  rating: number;
  /** The user gave any signal on this answer (so leaving is not abandonment). */
  signaled?: boolean;
  /** When the answer appeared on this page, for abandonment. */
  at?: number;
  abandoned?: boolean;
  /** The trace this answer regenerated. */
  from?: string;
  /** Event id of the latest vote, whose answer decides "thanks" or "not sent". */
  last?: string;
  status: "" | "thanks" | "failed";
  /** Repaint the toolbars that show this trace. */
  paint: Set<() => void>;
}

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
  queue: Queue;
  on(name: string, callback: Listener): void;
  emit(name: string, detail: unknown): void;
  state(id: string): TraceState;
  track(kind: string, id: string, fields?: Record<string, unknown>): string;
  vote(id: string, value: number, extra?: { reasons?: string[]; comment?: string }): void;
  /** Press a thumb: the same thumb again retracts the vote. Returns the new vote. */
  flip(id: string, value: number): number;
  rate(id: string, value: number): void;
  /** The page is being hidden or left: mark an abandoned answer, hand the outbox over. */
  leave(staying?: boolean): void;
}

export function createCore(o: Options): Core {
  const traces = new Map<string, TraceState>();
  const listeners: Record<string, Listener[]> = {};
  const session = o.sessionId || sessionId();

  const emit = (name: string, detail: unknown) => {
    for (const callback of listeners[name] || []) {
      try {
        callback(detail);
      } catch {
        // A host's listener must not break the widget either.
      }
    }
  };

  const state = (id: string): TraceState => {
    let st = traces.get(id);
    if (!st) traces.set(id, (st = { id, vote: 0, rating: 0, status: "", paint: new Set() }));
    return st;
  };

  const paint = (st: TraceState) => {
    for (const repaint of st.paint) repaint();
  };

  const track = (kind: string, id: string, fields: Record<string, unknown> = {}) => {
    const st = state(id);
    if (kind !== "abandon") st.signaled = true;
    // Fields left undefined are dropped by JSON.stringify.
    const event: WireEvent = {
      event_id: uuid(),
      trace_id: id,
      kind,
      timestamp: new Date().toISOString(),
      session_id: session,
      user_id: o.userId || undefined,
      token: st.token,
      ...fields,
    };
    if (st.from)
      event.metadata = { regenerated_from: st.from, ...(event.metadata as object | undefined) };
    queue.push(event);
    emit("queued", event);
    return event.event_id;
  };

  /** A vote or rating replaces the user's previous one; its answer decides "thanks". */
  const decide = (id: string, kind: string, fields: Record<string, unknown>) => {
    const st = state(id);
    st.status = "";
    st.last = track(kind, id, fields);
    paint(st);
  };

  const queue = createQueue(o, {
    settled(event: WireEvent, result: Result) {
      const rejected = result.status === "rejected";
      emit(rejected ? "rejected" : "sent", { event, ...result });
      if (rejected) emit("error", result.error);
      const st = traces.get(event.trace_id);
      if (st && st.last === event.event_id) {
        st.status = rejected ? "failed" : "thanks";
        paint(st);
      }
    },
    error: (error) => emit("error", error),
  });

  return {
    o,
    s: strings(o),
    queue,
    on: (name, callback) => (listeners[name] ||= []).push(callback),
    emit,
    state,
    track,
    vote(id, value, extra = {}) {
      state(id).vote = value;
      decide(id, "thumbs", { value, ...extra });
    },
    flip(id, value) {
      const next = state(id).vote === value ? 0 : value;
      this.vote(id, next);
      return next;
    },
    rate(id, value) {
      state(id).rating = value;
      decide(id, "rating", { value });
    },
    leave(staying) {
      // Only the newest answer can be abandoned, and not when the user is moving on in the
      // conversation (a form was just submitted: a server-rendered chat's next question).
      let st: TraceState | undefined;
      for (const t of traces.values()) if (t.at && !(st && st.at! > t.at)) st = t;
      const now = Date.now();
      if (
        st &&
        !staying &&
        !st.signaled &&
        !st.abandoned &&
        now - st.at! < o.abandonAfter * 1000 &&
        o.signals.includes("abandon")
      ) {
        st.abandoned = true;
        track("abandon", st.id, { metadata: { after_ms: now - st.at! } });
      }
      queue.beacon();
    },
  };
}
