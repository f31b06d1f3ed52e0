// Finding answers: those in the page at load, those added later (one MutationObserver), those
// re-rendered by a framework, and those inside open shadow roots, whenever these are attached.
//
// Streaming answers change token by token; a mutation inside an answer that is already known
// costs one closest() call and a timestamp (the answer is still changing), never a scan. Toolbars are drawn when their answer
// comes within a screen of the viewport: a page holding a thousand answers pays for the few
// on screen, and attaching adds nothing to the page until then.

import { elementOf } from "./answer";
import type { Core } from "./core";
import { toolbar } from "./toolbar";

export interface AttachInfo {
  traceId?: string;
  token?: string;
}

export interface Attacher {
  /** Attach every answer on the page and watch it for more. */
  _start(): void;
  /** Attach one element; `appeared` marks it as newly shown (for abandonment). */
  _attach(el: Element, info?: AttachInfo, appeared?: boolean): void;
}

export const traceOf = (el: Element) => el.getAttribute("data-feedback-trace");

/** Whether no answer comes after this one in its document (or shadow root). */
const last = (el: Element, selector: string) =>
  [...(el.getRootNode() as ParentNode).querySelectorAll(selector)].pop() === el;

export function createAttacher(core: Core): Attacher {
  const { selector } = core.o;
  const hosts = new WeakMap<Element, HTMLElement>();
  /** Answers attached (drawn, waiting to be drawn, or drawing nothing with toolbar "none"). */
  const known = new WeakSet<Element>();
  /** Toolbar host -> its answer, to give a toolbar back when a re-render drops it. */
  const owners = new WeakMap<Element, Element>();
  const roots = new WeakSet<Node>();
  const io = new IntersectionObserver(
    (entries) => {
      for (const { target, isIntersecting } of entries)
        if (isIntersecting && target.isConnected) {
          io.unobserve(target);
          const host = toolbar(core, core._state(traceOf(target)!), target);
          owners.set(host, target);
          hosts.set(target, host);
        }
    },
    { rootMargin: "100%" },
  );

  const watch = (root: Document | ShadowRoot) => {
    roots.add(root);
    observer.observe(root, {
      childList: true,
      subtree: true,
      characterData: true,
      attributes: true,
      attributeFilter: ["data-feedback-trace", "data-feedback-token", "data-feedback-regenerated-from"],
    });
  };

  /** Attach every answer in a subtree, and in the open shadow roots below it. */
  const scan = (root: ParentNode, appeared?: boolean): Element[] => {
    const found = [...root.querySelectorAll(selector)];
    if (root instanceof Element && root.matches(selector)) found.unshift(root);
    for (const el of found) attach(el, {}, appeared);
    // An indexed loop: on a page of 1,000 answers, iterating its 10,000 elements with for-of
    // (or spreading them) takes several times as long.
    const all = root.querySelectorAll("*");
    for (let i = 0, el = root as Element; el; el = all[i++]) {
      const shadow = el.shadowRoot;
      if (shadow && !owners.has(el) && !roots.has(shadow)) {
        watch(shadow);
        found.push(...scan(shadow, appeared));
      }
    }
    return found;
  };

  const attach = (el: Element, info: AttachInfo = {}, appeared = true) => {
    const id = info.traceId || traceOf(el);
    if (!id) return;
    const st = core._state(id);
    const token = info.token || el.getAttribute("data-feedback-token");
    if (token && token !== st._token) core._token(st, token);
    const from = el.getAttribute("data-feedback-regenerated-from");
    if (from && from !== st._from) {
      st._from = from;
      // The link goes as the new answer appears, not with a first signal that may never come.
      if (core._has("regenerate")) core._track("custom", id, { name: "regenerated" }, 1);
    }
    if (appeared && !st._at) {
      st._at = Date.now();
      // The newest answer is the one put last, among those first seen in this page view: not
      // a history row that a virtual list mounts above the others as the user scrolls up, nor
      // older messages loaded above (a remount keeps its first time and is never newest).
      if (last(el, selector)) core._newest = st;
    }
    st._el = el;
    if (!traceOf(el)) el.setAttribute("data-feedback-trace", id);
    const host = hosts.get(el);
    if (known.has(el) && !(host && !host.isConnected)) return; // no double toolbars
    known.add(el);
    if (core.o.toolbar !== "none") io.observe(el);
  };

  /** Forget an answer: its toolbar goes, and it is no longer watched. */
  const drop = (el: Element) => {
    hosts.get(el)?.remove();
    hosts.delete(el);
    known.delete(el);
    io.unobserve(el);
  };

  const observer = new MutationObserver((records) => {
    try {
      for (const record of records) {
        const target = record.target as Element;
        if (record.type === "attributes") {
          if (target.matches(selector)) {
            // A new trace id is another answer: a toolbar of its own. A token arriving (with a
            // streamed answer's last chunk) changes nothing on screen.
            if (record.attributeName === "data-feedback-trace") drop(target);
            attach(target);
          }
          continue;
        }
        for (const node of record.removedNodes as NodeListOf<Element>) {
          // The answer left the page: its toolbar goes too.
          if (known.has(node)) drop(node);
          // A toolbar removed while its answer stays (a morphing re-render): draw it again.
          const owner = owners.get(node);
          if (owner?.isConnected) attach(owner);
        }
        // Text streaming into a known answer: only noted (no edits, no output meanwhile).
        const answer = elementOf(target)?.closest(selector);
        if (answer && known.has(answer)) {
          // (Its own toolbar drawn into a slot inside it is no change of the answer.)
          if (!owners.has(record.addedNodes[0] as Element)) core._state(traceOf(answer)!)._changed = Date.now();
          continue;
        }
        for (const node of record.addedNodes)
          if (node.nodeType === 1 && !owners.has(node as Element)) scan(node as Element, true);
      }
    } catch (error) {
      core._emit("error", error);
    }
  });

  return {
    _attach: attach,
    _start() {
      watch(document);
      // A web component defined after the widget started attaches its shadow root when it
      // upgrades, which no mutation of the page reports: hear of every open root as it is made.
      const attachShadow = Element.prototype.attachShadow;
      Element.prototype.attachShadow = function (this: Element, init: ShadowRootInit) {
        const root = attachShadow.call(this, init);
        if (init.mode === "open" && !this.hasAttribute("data-feedback-toolbar")) watch(root);
        return root;
      };
      // Of the answers already on the page, the last one has just appeared.
      const found = scan(document, false);
      if (found[0]) attach(found.pop()!);
    },
  };
}
