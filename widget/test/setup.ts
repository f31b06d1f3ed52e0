// Test harness for happy-dom. Nothing here is loaded by the widget itself.
//
// happy-dom (21.x) has innerText, Selection, CSSStyleSheet.replaceSync and adoptedStyleSheets,
// but no Web Locks (navigator.locks is null): tests that need them install a fake (see
// helpers.ts). Its sendBeacon and fetch would go to the network, so both are replaced by stubs
// that fail loudly; a test that expects a request stubs them with its own vi.fn.
//
// Every widget instance observes the whole document and listens on document and window, and
// happy-dom keeps one window per test file; so after each test the observers are disconnected,
// the listeners removed, and the page and storages emptied, so that one test's widget cannot
// draw toolbars or record events in the next test.

import { afterEach, vi } from "vitest";

// happy-dom does no layout, so its IntersectionObserver never reports anything. This one
// remembers what is observed; drawVisible() (helpers.ts) then reports every observed element
// that is in the page as on screen, as a browser does once it has laid the page out.
type Watch = { observer: FakeIntersectionObserver; target: Element };
export const watched: Watch[] = [];
class FakeIntersectionObserver {
  constructor(public callback: IntersectionObserverCallback) {}
  observe(target: Element) {
    watched.push({ observer: this, target });
  }
  unobserve(target: Element) {
    const i = watched.findIndex((w) => w.observer === this && w.target === target);
    if (i >= 0) watched.splice(i, 1);
  }
  disconnect() {
    for (let i = watched.length; i--; ) if (watched[i].observer === this) watched.splice(i, 1);
  }
}
globalThis.IntersectionObserver = FakeIntersectionObserver as unknown as typeof IntersectionObserver;

const offline = () => Promise.reject(new TypeError("no network in unit tests"));
globalThis.fetch = offline as typeof fetch;
Object.defineProperty(navigator, "sendBeacon", {
  configurable: true,
  writable: true,
  value: () => false,
});

// The widget wraps attachShadow to see shadow roots made after it started; each test's widget
// wraps the original again.
const attachShadow = Element.prototype.attachShadow;

const observers = new Set<MutationObserver>();
const observe = MutationObserver.prototype.observe;
MutationObserver.prototype.observe = function (this: MutationObserver, ...args) {
  observers.add(this);
  return observe.apply(this, args);
};

const added: [EventTarget, string, EventListenerOrEventListenerObject | null, unknown][] = [];
for (const target of [window, document] as EventTarget[]) {
  const add = target.addEventListener;
  // Called bare (`addEventListener(...)`) as well, so `this` is not to be relied on.
  target.addEventListener = function (
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ) {
    added.push([target, type, listener, options]);
    return add.call(target, type, listener, options);
  };
}

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals(); // before the storages below are emptied: a test may have replaced them
  Element.prototype.attachShadow = attachShadow;
  for (const observer of observers) observer.disconnect();
  observers.clear();
  for (const [target, type, listener, options] of added.splice(0))
    target.removeEventListener(type, listener, options as boolean | EventListenerOptions);
  document.body.innerHTML = "";
  document.documentElement.removeAttribute("lang");
  localStorage.clear();
  sessionStorage.clear();
  for (const name of ["locks", "visibilityState", "currentScript"])
    for (const target of [navigator, document] as object[])
      if (Object.prototype.hasOwnProperty.call(target, name)) delete (target as Record<string, unknown>)[name];
  delete (window as { FeedbackLoop?: unknown }).FeedbackLoop;
  document.getSelection()?.removeAllRanges();
});
