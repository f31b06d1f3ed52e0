// Finding answers: those in the page at load, those added later (one MutationObserver), those
// re-rendered by a framework, and those inside open shadow roots.
//
// Streaming answers change token by token; a mutation inside an answer that is already known
// costs one closest() call, never a scan of the page.

import type { Core } from "./core";
import { drawers, toolbar } from "./toolbar";

export interface AttachInfo {
  traceId?: string;
  token?: string;
}

export interface Attacher {
  /** Attach every answer on the page and watch it for more. */
  start(): void;
  /** Attach one element; `appeared` marks it as newly shown (for abandonment). */
  attach(el: Element, info?: AttachInfo, appeared?: boolean): void;
  /** Answer element -> its toolbar host (null when the host draws its own buttons). */
  hosts: WeakMap<Element, HTMLElement | null>;
}

const traceOf = (el: Element) => el.getAttribute("data-feedback-trace");

export function createAttacher(core: Core): Attacher {
  const { selector } = core.o;
  const hosts = new WeakMap<Element, HTMLElement | null>();
  /** Toolbar host -> its answer, to give a toolbar back when a re-render drops it. */
  const owners = new WeakMap<Element, Element>();
  const roots = new WeakSet<Node>();

  const watch = (root: Document | ShadowRoot) => {
    roots.add(root);
    observer.observe(root, {
      childList: true,
      subtree: true,
      attributes: true,
      attributeFilter: ["data-feedback-trace", "data-feedback-token"],
    });
  };

  /** Attach every answer in a subtree, and in the open shadow roots below it. */
  const scan = (root: ParentNode, appeared?: boolean): Element[] => {
    const found = [...root.querySelectorAll(selector)];
    if (root instanceof Element && root.matches(selector)) found.unshift(root);
    for (const el of found) attach(el, {}, appeared);
    for (const el of [root, ...root.querySelectorAll("*")] as Element[]) {
      const shadow = el.shadowRoot;
      if (shadow && !drawers.has(el) && !roots.has(shadow)) {
        watch(shadow);
        found.push(...scan(shadow, appeared));
      }
    }
    return found;
  };

  const attach = (el: Element, info: AttachInfo = {}, appeared = true) => {
    const id = info.traceId || traceOf(el);
    if (!id) return;
    const st = core.state(id);
    const token = info.token || el.getAttribute("data-feedback-token");
    if (token) st.token = token;
    const from = el.getAttribute("data-feedback-regenerated-from");
    if (from) st.from = from;
    if (appeared && !st.at) st.at = Date.now();
    if (!traceOf(el)) el.setAttribute("data-feedback-trace", id);
    const known = hosts.get(el);
    if (known !== undefined && (!known || known.isConnected)) return; // no double toolbars
    let host: HTMLElement | null = null;
    if (core.o.toolbar !== "none") {
      host = toolbar(core, st);
      owners.set(host, el);
      el.after(host);
    }
    hosts.set(el, host);
  };

  const observer = new MutationObserver((records) => {
    try {
      for (const record of records) {
        const target = record.target as Element;
        if (record.type === "attributes") {
          if (target.matches(selector)) {
            hosts.get(target)?.remove();
            hosts.delete(target);
            attach(target);
          }
          continue;
        }
        for (const node of record.removedNodes as NodeListOf<Element>) {
          // The answer left the page: its toolbar goes too.
          hosts.get(node)?.remove();
          hosts.delete(node);
          // A toolbar removed while its answer stays (a morphing re-render): draw it again.
          const owner = owners.get(node);
          if (owner?.isConnected) attach(owner);
        }
        // Text streaming into a known answer: nothing to do.
        const answer = target.nodeType === 1 ? target.closest(selector) : null;
        if (answer && hosts.has(answer)) continue;
        for (const node of record.addedNodes)
          if (node.nodeType === 1 && !drawers.has(node as Element)) scan(node as Element, true);
      }
    } catch (error) {
      core.emit("error", error);
    }
  });

  return {
    hosts,
    attach,
    start() {
      watch(document);
      // Of the answers already on the page, the newest one has just "appeared".
      const found = scan(document);
      const last = found[found.length - 1];
      if (last) core.state(traceOf(last)!).at = Date.now();
    },
  };
}
