// The toolbar drawn after each answer, isolated in a shadow root. Styled by a constructed
// stylesheet (no inline styles, so a strict Content-Security-Policy allows it), themed by
// custom properties (--fl-*) and ::part().

import type { Reason } from "./config";
import type { Core, TraceState } from "./core";

const BUILTIN = ["hallucination", "format", "refusal", "length"] as const;
type Builtin = (typeof BUILTIN)[number];
const THUMB = "M2 21h4V9H2zm5 0V9l6-8q3 0 2 3l-1 4h6q2.4.2 2 2.5l-2 9q-.4 1.5-2 1.5z";

// (Each line ends in a backslash: the sheet has no newlines.)
const CSS = `:host{all:initial;display:block;margin:4px 0;font:13px system-ui,sans-serif;color-scheme:light dark;--fl-fg:light-dark(#4b5563,#d1d5db);--fl-bg:light-dark(#fff,#1f2937);--fl-line:light-dark(#d1d5db,#4b5563);--fl-accent:light-dark(#2563eb,#60a5fa);color:var(--fl-fg)}\
:host([data-theme=light]){color-scheme:light}:host([data-theme=dark]){color-scheme:dark}\
div{display:flex;align-items:center;gap:2px;position:relative}\
button,textarea{font:inherit;color:inherit;background:0;border:1px solid #0000;border-radius:6px;padding:3px 6px}\
button{cursor:pointer}\
button:hover,[part~=chip],textarea{border-color:var(--fl-line)}\
[aria-pressed=true]{color:var(--fl-accent)}\
[aria-pressed=true][part~=chip],[part~=send]{background:var(--fl-accent);color:var(--fl-bg)}\
[part~=star]{font-size:16px;padding:0 1px;color:var(--fl-line)}\
[aria-pressed=true][part~=star]{color:#f59e0b}\
[part~=rating]{margin:0 6px}\
svg{width:16px;fill:currentColor}\
[part~=down] svg{rotate:180deg}\
section{position:absolute;top:100%;z-index:9;background:var(--fl-bg);border:1px solid var(--fl-line);border-radius:8px;padding:8px;box-shadow:0 4px 16px #0003;width:min(280px,80vw)}\
p{margin:0 0 6px;font-weight:600}\
[part~=chip]{margin:0 4px 4px 0;border-radius:99px}\
[part~=close]{float:right}\
textarea{box-sizing:border-box;width:100%;margin:4px 0}`;

let sheet: CSSStyleSheet | undefined;

function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const name in attrs) el.setAttribute(name, attrs[name]);
  el.append(...children);
  return el;
}

function icon(): SVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", THUMB);
  svg.append(path);
  return svg;
}

const button = (a: string, label: string, part: string, ...children: (Node | string)[]) =>
  h("button", { "data-a": a, "aria-label": label, part }, ...children);

/** The toolbar's buttons. */
function template(core: Core): HTMLElement {
  const { s, o } = core;
  const bar = h("div", { part: "toolbar", role: "group", "aria-label": s.group });
  if (core._has("thumbs"))
    bar.append(button("up", s.up, "button up", icon()), button("down", s.down, "button down", icon()));
  if (core._has("rating")) {
    // A labelled group of stars, the unpressed ones pale: a rating, not a row of bullets.
    const rating = h("span", { part: "rating", role: "group", "aria-label": s.rating }, s.rating);
    for (let n = 1; n <= o.ratingScale; n++) {
      const star = button("star", s.rate.replace("%n", "" + n).replace("%m", "" + o.ratingScale), "button star", "★");
      star.dataset.n = "" + n;
      rating.append(star);
    }
    bar.append(rating);
  }
  bar.append(h("span", { part: "status", role: "status" }));
  return bar;
}

/** The popover after a thumbs-down: reason chips and a comment box, built on first use. */
function popover(core: Core): HTMLElement {
  const { s, o } = core;
  const pop = h("section", { part: "popover", role: "dialog", "aria-label": s.ask });
  pop.append(button("close", s.close, "button close", "×"), h("p", {}, s.ask));
  if (core._has("reasons"))
    for (const r of [...(o.errorModes || BUILTIN.map((id) => ({ id }) as Reason)), ...o.reasons]) {
      // The built-in modes in the widget's words (and language), the project's own as named.
      const label = (BUILTIN as readonly string[]).includes(r.id) ? s[r.id as Builtin] : r.label;
      pop.append(h("button", { "data-a": "chip", "data-r": r.id, "aria-pressed": "false", part: "chip" }, label));
    }
  if (core._has("comment"))
    pop.append(
      h("textarea", { part: "comment", "aria-label": s.comment, placeholder: s.comment, maxlength: "" + o.maxCommentChars }),
    );
  pop.append(button("send", s.send, "button send", s.send));
  return pop;
}

/** Keep the popover in sight: below the toolbar, or above it when its bottom cannot be seen
 * there (clipped by the viewport or by a box around, a chat's scrolling log, or under something
 * the page put above it, its input); and moved into the viewport, sideways and, when it fits
 * neither way, down. */
function place(host: HTMLElement, pop: HTMLElement) {
  const { left, right, top, bottom, height } = pop.getBoundingClientRect();
  const up = (host.getRootNode() as Document).elementFromPoint?.(Math.max(left, 0) + 1, bottom - 1) !== host;
  pop.style.translate = `${Math.max(Math.min(0, document.documentElement.clientWidth - right), -left)}px ${Math.max(up ? -height - host.offsetHeight : 0, -top)}px`;
}

/** Draw the toolbar for an answer, right after it; returns the toolbar's host element. */
export function toolbar(core: Core, st: TraceState, answer: Element): HTMLElement {
  const host = h("div", { "data-feedback-toolbar": "", "data-theme": core.o.theme });
  // Where the host wants it (inside a bubble rather than beside it in a flex row), else after.
  const slot = answer.querySelector("[data-feedback-toolbar-slot]");
  slot ? slot.append(host) : answer.after(host);
  const root = host.attachShadow({ mode: "open" });
  if (!sheet) {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
  }
  root.adoptedStyleSheets = [sheet];
  const bar = template(core);
  root.append(bar);

  const [up, down] = bar.querySelectorAll("[data-a=up],[data-a=down]") as NodeListOf<HTMLElement>;
  const stars = bar.querySelectorAll("[data-a=star]") as NodeListOf<HTMLElement>;
  const status = bar.lastChild!;
  const press = (el: Element, on: boolean) => el.setAttribute("aria-pressed", "" + on);
  const asks = core._has("reasons") || core._has("comment");
  let pop: HTMLElement | undefined;

  const paint = () => {
    // A toolbar whose answer left the page stops listening for its trace.
    if (!host.isConnected) return st._paint.delete(paint);
    if (up) {
      press(up, st._vote > 0);
      press(down, st._vote < 0);
    }
    for (const star of stars) press(star, +star.dataset.n! <= st._rating);
    // "Thanks!" once the popover asking what went wrong is sent or dismissed, not beside it.
    status.textContent = st._status && !pop ? core.s[st._status] : "";
  };
  const close = () => {
    if (pop) {
      pop.remove();
      pop = undefined;
      down.focus();
      paint();
    }
  };
  const open = () => {
    // A fresh popover each time: nothing chosen, nothing typed.
    bar.append((pop = popover(core)));
    place(host, pop);
    (pop.querySelector("p+*") as HTMLElement | null)?.focus();
  };
  const send = (fresh: HTMLElement) => {
    const reasons = [...fresh.querySelectorAll("[aria-pressed=true]")]
      .map((chip) => (chip as HTMLElement).dataset.r!)
      .slice(0, core.o.maxReasons);
    const comment = fresh.querySelector("textarea")?.value.trim();
    if (reasons.length || comment) core._vote(st.id, -1, { reasons, comment: comment || undefined });
    close();
  };

  root.addEventListener("click", (event) => {
    const b = (event.target as Element).closest("button");
    const a = b?.dataset.a;
    if (a === "up" || a === "down") {
      // A second click on the pressed thumb retracts it.
      if (core._flip(st.id, a === "up" ? 1 : -1) < 0 && asks) open();
      else close();
    } else if (a === "star") core._rate(st.id, +b!.dataset.n!);
    else if (a === "chip") press(b!, b!.getAttribute("aria-pressed") !== "true");
    else if (a === "close") close();
    else if (a === "send") send(pop!);
  });
  root.addEventListener("keydown", (event) => {
    if ((event as KeyboardEvent).key === "Escape") close();
  });

  st._paint.add(paint);
  paint();
  return host;
}
