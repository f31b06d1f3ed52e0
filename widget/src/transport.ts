// Sending batches: fetch while the page lives, sendBeacon when it goes away.
// Bodies are text/plain so that no CORS preflight is needed, and carry the key in the body.

export interface WireEvent {
  event_id: string;
  trace_id: string;
  kind: string;
  [field: string]: unknown;
}

export interface Result {
  event_id: string | null;
  status: "accepted" | "duplicate" | "rejected";
  error?: { code: string; message: string; field?: string | null };
}

export interface Answer {
  /** HTTP status, or 0 when the request did not complete. */
  status: number;
  /** Seconds from Retry-After, when the server sent one. */
  retryAfter: number;
  results?: Result[];
  /** The error the server gave, when the page may read it. */
  error?: { code: string; message: string };
}

/** Browsers cap keepalive and beacon bodies at 64 KiB in flight. */
export const BEACON_BYTES = 65536;

export const body = (key: string, events: WireEvent[]) => JSON.stringify({ key, events });

/** UTF-8 bytes, which is what the 64 KiB cap counts (not characters). */
const bytes = (s: string) => new Blob([s]).size;

/** Split events into bodies of at most `limit` bytes and `size` events each. */
export function chunks(key: string, events: WireEvent[], size: number, limit = BEACON_BYTES) {
  const out: WireEvent[][] = [];
  let batch: WireEvent[] = [];
  for (const event of events) {
    batch.push(event);
    if (batch.length > size || bytes(body(key, batch)) > limit) {
      batch.pop();
      if (batch.length) out.push(batch);
      batch = [event];
    }
  }
  if (batch.length) out.push(batch);
  return out;
}

const TEXT = "text/plain;charset=UTF-8";

/** POST a body; rejects on network errors (the queue retries them). */
export async function post(endpoint: string, payload: string): Promise<Answer> {
  const response = await fetch(endpoint, {
    method: "POST",
    body: payload,
    headers: { "Content-Type": TEXT },
    keepalive: bytes(payload) < BEACON_BYTES,
  });
  const json = await response.json().catch(() => ({}));
  return {
    status: response.status,
    retryAfter: +response.headers.get("Retry-After")! || 0,
    results: response.ok ? json.results : undefined,
    error: json.error,
  };
}

/** After a request failed like a network error: whether the endpoint answered but refused this
 * page. It answers an unknown key (401) or an origin it does not allow (403) without CORS
 * headers, so a page of another origin sees a network error. So ask twice: the preflight that
 * an OPTIONS request with ?key= needs fails (or, same-origin, its answer is an error) when the
 * key or the origin is refused, and fails when the server is unreachable too; a no-cors request
 * then tells the two apart, as it completes whenever the server answers at all. */
export const refused = (endpoint: string, key: string) =>
  fetch(endpoint + "?key=" + key, { method: "OPTIONS" }).then(
    (response) => !response.ok,
    () => fetch(endpoint, { mode: "no-cors" }).then(() => true, () => false),
  );

/** Queue bodies with sendBeacon; true when the browser took all of them. */
export function beacon(endpoint: string, payloads: string[]): boolean {
  try {
    return payloads.every((p) =>
      navigator.sendBeacon(endpoint, new Blob([p], { type: TEXT })),
    );
  } catch {
    return false;
  }
}

/** Whether a failed request may succeed later: network errors, 408, 429 and 5xx. */
export const retriable = (status: number) =>
  status === 0 || status === 408 || status === 429 || status >= 500;

/** Exponential backoff with full jitter, at least what Retry-After asks. */
export function backoff(attempt: number, retryAfter = 0, base = 1000, cap = 60000) {
  const ceiling = Math.min(cap, base * 2 ** attempt);
  return Math.max(retryAfter * 1000, ceiling / 2 + (Math.random() * ceiling) / 2);
}
