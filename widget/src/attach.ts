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

export class Attacher {
  /** Answer element -> its toolbar host (null when the host draws its own buttons). */
  hosts = new WeakMap<Element, HTMLElement | null>();
  private roots = new WeakSet<Node>();
  private observer: MutationObserver;

  constructor(private core: Core) {
    this.observer = new MutationObserver((records) => {
      try {
        this.mutated(records);
      } catch (error) {
        core.emit("error", error);
      }
    });
  }

  start() {
    this.watch(document);
    const found = this.scan(document);
    // Of the answers already on the page, the newest one has just "appeared".
    const last = found[found.length - 1];
    if (last) this.core.state(this.traceOf(last)!).at = Date.now();
  }

  private traceOf(el: Element): string | null {
    return el.getAttribute("data-feedback-trace");
  }

  private watch(root: Document | ShadowRoot) {
    if (this.roots.has(root)) return;
    this.roots.add(root);
    this.observer.observe(root, {
      childList: true,
      subtree: true,
      attributes: true,
      attributeFilter: ["data-feedback-trace", "data-feedback-token"],
    });
  }

  /** Attach every answer in a subtree, and in the open shadow roots below it. */
  private scan(root: ParentNode, appeared = false): Element[] {
    const { selector } = this.core.o;
    const found: Element[] = [];
    if (root instanceof Element && root.matches(selector)) found.push(root);
    found.push(...root.querySelectorAll(selector));
    for (const el of found) this.attach(el, {}, appeared);
    for (const el of [root, ...root.querySelectorAll("*")]) {
      const shadow = (el as Element).shadowRoot;
      if (shadow && !drawers.has(el as Element) && !this.roots.has(shadow)) {
        this.watch(shadow);
        found.push(...this.scan(shadow, appeared));
      }
    }
    return found;
  }

  attach(el: Element, info: AttachInfo = {}, appeared = true) {
    const id = info.traceId || this.traceOf(el);
    if (!id) return;
    const st = this.core.state(id);
    const token = info.token || el.getAttribute("data-feedback-token");
    if (token) st.token = token;
    const from = el.getAttribute("data-feedback-regenerated-from");
    if (from) st.from = from;
    if (appeared && !st.at) st.at = Date.now();
    if (info.traceId && !this.traceOf(el)) el.setAttribute("data-feedback-trace", id);
    const known = this.hosts.get(el);
    if (known !== undefined && (!known || known.isConnected)) return; // no double toolbars
    let host: HTMLElement | null = null;
    if (this.core.o.toolbar !== "none") {
      host = toolbar(this.core, st);
      el.after(host);
    }
    this.hosts.set(el, host);
  }

  private mutated(records: MutationRecord[]) {
    const { selector } = this.core.o;
    for (const record of records) {
      const target = record.target as Element;
      if (record.type === "attributes") {
        if (target.matches(selector)) {
          this.hosts.get(target)?.remove();
          this.hosts.delete(target);
          this.attach(target);
        }
        continue;
      }
      for (const node of record.removedNodes) {
        if (node.nodeType !== 1) continue;
        // The answer left the page: its toolbar goes too.
        this.hosts.get(node as Element)?.remove();
        this.hosts.delete(node as Element);
      }
      // Text streaming into a known answer: nothing to do.
      const answer = target.nodeType === 1 ? target.closest(selector) : null;
      if (answer && this.hosts.has(answer)) continue;
      for (const node of record.addedNodes) {
        if (node.nodeType !== 1 || drawers.has(node as Element)) continue;
        this.scan(node as Element, true);
      }
    }
  }
}
