// Implicit signals and host-drawn buttons: copy, edit, regenerate, abandon, and clicks on
// elements marked data-feedback-action.

import { content, elementOf, shown, rendered as text, source } from "./answer";
import { type Attacher, traceOf } from "./attach";
import { changing, type Core } from "./core";

export function listen(core: Core, attacher: Attacher) {
  const { o } = core;
  const on = core._has;
  const guard =
    <E extends Event>(handler: (event: E) => void) =>
    (event?: E) => {
      try {
        handler(event!);
      } catch (error) {
        core._emit("error", error);
      }
    };
  /** The answer an event happened in, across open shadow roots. */
  const answerOf = (path: EventTarget[]) =>
    path.find((node) => node instanceof Element && node.matches(o.selector)) as Element | undefined;

  // In the capture phase: before the page's own handlers, which may stop the click.
  document.addEventListener(
    "click",
    guard((event: MouseEvent) => {
      const path = event.composedPath();
      const button = path.find(
        (node) => node instanceof Element && node.hasAttribute("data-feedback-action"),
      ) as Element | undefined;
      const answer = button && answerOf(path);
      if (!button || !answer) return;
      attacher._attach(answer);
      const id = traceOf(answer)!;
      const action = button.getAttribute("data-feedback-action");
      if (action === "up" || action === "down") {
        const vote = core._flip(id, action === "up" ? 1 : -1);
        // The host's own thumbs show the vote too.
        for (const b of answer.querySelectorAll("[data-feedback-action=up],[data-feedback-action=down]"))
          b.setAttribute("aria-pressed", "" + (vote === (b.getAttribute("data-feedback-action") === "up" ? 1 : -1)));
      } else if (action === "copy" && on("copy")) {
        // A copy button copies the answer as shown: its source when the host gives one (a
        // page that copies part of it says what with FeedbackLoop.copy(id, text)).
        const copied = shown(answer);
        core._copy(id, copied, copied);
      } else if (action === "regenerate" && on("regenerate")) {
        core._track("regenerate", id);
      } else if (action === "edit" && on("edit")) {
        edit(answer, id);
      }
    }),
    true,
  );


  if (on("copy"))
    document.addEventListener(
      "copy",
      guard(() => {
        const selection = document.getSelection();
        const copied = selection?.toString() || "";
        const answer = elementOf(selection?.anchorNode)?.closest(o.selector);
        if (!copied || !answer || !answer.contains(selection!.focusNode)) return;
        core._copy(traceOf(answer)!, copied, text(answer));
      }),
    );

  /** The host's edit control: the answer becomes editable, as its source when the host gives
   * one; leaving it after typing sends the new version. Not while the answer still streams. */
  const edit = (answer: Element, id: string) => {
    const el = content(answer);
    if (el.isContentEditable || changing(core._state(id))) return;
    const src = source(answer);
    // The rendered nodes wait aside (a framework keeps its references to them) and come back.
    const nodes = src != null && [...el.childNodes];
    const space = el.style.whiteSpace;
    if (nodes) {
      el.textContent = src;
      el.style.whiteSpace = "pre-wrap";
    }
    const before = text(answer);
    // Only typing counts: a framework rewriting the element (v-html, a re-render) is no edit.
    let typed = false;
    const input = () => (typed = true);
    el.addEventListener("input", input);
    el.contentEditable = "true";
    el.focus();
    el.addEventListener(
      "focusout",
      guard(() => {
        el.removeAttribute("contenteditable");
        el.removeEventListener("input", input);
        const after = text(answer);
        if (nodes) {
          el.replaceChildren(...nodes);
          el.style.whiteSpace = space;
        }
        if (typed && after.trim() && after !== before)
          core._track("edit", id, { text: after, metadata: { text_format: nodes ? "source" : "rendered" } });
      }),
      { once: true },
    );
  };

  // Leaving by a form submitted in the last 5 s (a server-rendered chat's next question) is
  // moving on, not abandoning; a submit the page handled itself (an SPA) navigates nowhere.
  let submit: Event | undefined;
  document.addEventListener("submit", (event) => (submit = event));
  const leave = guard(() =>
    core._leave(!!submit && !submit.defaultPrevented && performance.now() - submit.timeStamp < 5000),
  );
  addEventListener("pagehide", leave);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") leave();
  });
}
