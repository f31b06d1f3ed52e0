// Options, from the script tag's data-* attributes or FeedbackLoop.init(options).

export interface Reason {
  id: string;
  label: string;
}

export interface Options {
  /** Capture endpoint, e.g. https://example.com/feedback/api/v1/events */
  endpoint: string;
  /** The project's public key (pk_...). */
  key: string;
  /** Which elements are answers. */
  selector: string;
  /** "auto" draws a toolbar per answer; "none" only records host buttons. */
  toolbar: "auto" | "none";
  locale: string;
  theme: "auto" | "light" | "dark";
  /** Signals to capture: thumbs, reasons, comment, rating, copy, edit, regenerate, abandon. */
  signals: string[];
  /** Send the copied text itself, not only its length. */
  copyText: boolean;
  /** Extra reason chips besides the project's error modes. */
  reasons: Reason[];
  /** An answer left within this many seconds of appearing, with no signal, is abandoned. */
  abandonAfter: number;
  /** Groups a visitor's events; default: one random id per tab. */
  sessionId: string;
  /** The end user, when the page knows it (a token bound to a user sets it too). */
  userId: string;
  /** Events per request (at most maxBatchSize). */
  batchSize: number;
  /** Milliseconds to wait for more events before sending. */
  flushDelay: number;
  /** Overrides of the UI strings. */
  strings: Partial<Strings>;
  // The server's settings, which {% feedback_loop_script %} writes into the tag; a tag written
  // by hand gets the server's defaults.
  /** MAX_BATCH_SIZE: events the server takes in one request. */
  maxBatchSize: number;
  /** RATING_SCALE: the number of stars. */
  ratingScale: number;
  /** MAX_COMMENT_CHARS, MAX_TEXT_CHARS (answers, edits, copies) and MAX_REASONS. */
  maxCommentChars: number;
  maxTextChars: number;
  maxReasons: number;
  /** Whether the project rejects events without a trace token (true, or "true" from the tag);
   * when the tag does not say, the first missing_token answer does. */
  requireToken?: boolean | "true" | "false";
  /** The project's error modes, offered after a thumbs-down; default: the four built-in ones. */
  errorModes?: Reason[];
}

export const defaults: Options = {
  endpoint: "",
  key: "",
  selector: "[data-feedback-trace]",
  toolbar: "auto",
  locale: "",
  theme: "auto",
  signals: ["thumbs", "reasons", "comment", "copy", "edit", "regenerate", "abandon"],
  copyText: false,
  reasons: [],
  abandonAfter: 60,
  sessionId: "",
  userId: "",
  batchSize: 50,
  flushDelay: 500,
  strings: {},
  maxBatchSize: 100,
  ratingScale: 5,
  maxCommentChars: 4000,
  maxTextChars: 65536,
  maxReasons: 10,
};

const KEYS = [
  "group",
  "up",
  "down",
  "rate",
  "rating",
  "ask",
  "hallucination",
  "format",
  "refusal",
  "length",
  "comment",
  "send",
  "close",
  "thanks",
  "failed",
] as const;
export type Strings = Record<(typeof KEYS)[number], string>;

// One string per language, in the order of KEYS ("%n" is the star's number).
const catalogs: Record<string, string> = {
  en: "Feedback|Good answer|Bad answer|Rate %n of %m|Rating|What went wrong?|Made things up|Wrong format|Refused|Too long|Tell us more (optional)|Send|Close|Thanks!|Not sent",
  de: "Feedback|Gute Antwort|Schlechte Antwort|%n von %m Sternen|Bewertung|Was war falsch?|Erfunden|Falsches Format|Verweigert|Zu lang|Mehr dazu (optional)|Senden|Schließen|Danke!|Nicht gesendet",
};

const catalog = (lang: string) => {
  const words = (catalogs[lang] || catalogs.en).split("|");
  return Object.fromEntries(KEYS.map((key, i) => [key, words[i]])) as Strings;
};

export function strings(options: Options): Strings {
  const lang = (options.locale || document.documentElement.lang || navigator.language)
    .slice(0, 2)
    .toLowerCase();
  return { ...catalog(lang), ...options.strings };
}

const list = (value: string) =>
  value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/** Options from a script tag: data-endpoint, data-key, data-selector, data-toolbar, ...
 * Numbers stay strings here; they are only used in arithmetic and comparisons with numbers,
 * which convert them. */
export function fromScript(script: HTMLScriptElement): Partial<Options> {
  const { signals, copyText, reasons, errorModes, ...rest } = script.dataset;
  const o = rest as Partial<Options>;
  // data-error-modes='[{"id": "hallucination", "label": "Hallucination"}, ...]'
  try {
    if (errorModes) o.errorModes = JSON.parse(errorModes);
  } catch {}
  if (signals) o.signals = list(signals);
  if (copyText != null) o.copyText = copyText !== "false"; // a bare data-copy-text is on
  // data-reasons="slow:Too slow, tone:Wrong tone"
  if (reasons)
    o.reasons = list(reasons).map((item) => {
      const [id, label] = item.split(":");
      return { id: id.trim(), label: (label || id).trim() };
    });
  return o;
}
