import { describe, expect, it, vi } from "vitest";
import type { WireEvent } from "../src/transport";
import { answer, mount, settle, type TestOptions, toolbars } from "./helpers";

/** A message as a host page with its own buttons draws it. */
function message(trace: string, text: string) {
  const el = answer(trace, "");
  el.innerHTML = `<div data-feedback-content>${text}</div>
    <nav>
      <button data-feedback-action="up">👍</button>
      <button data-feedback-action="down">👎</button>
      <button data-feedback-action="copy">Copy</button>
      <button data-feedback-action="regenerate">Retry</button>
      <button data-feedback-action="edit">Edit</button>
    </nav>`;
  return el;
}

const button = (el: Element, action: string) =>
  el.querySelector(`[data-feedback-action=${action}]`) as HTMLButtonElement;

function select(node: Node, start?: number, end?: number) {
  const range = document.createRange();
  if (start === undefined) range.selectNodeContents(node);
  else {
    range.setStart(node, start);
    range.setEnd(node, end!);
  }
  const selection = document.getSelection()!;
  selection.removeAllRanges();
  selection.addRange(range);
}

const copy = () => document.dispatchEvent(new Event("copy", { bubbles: true }));
/** What typing does to an editable element: its text changes and it fires input. */
function type(el: HTMLElement, text: string) {
  el.textContent = text;
  el.dispatchEvent(new InputEvent("input", { bubbles: true }));
}
const kinds = (events: WireEvent[]) => events.map((e) => e.kind);

function hostPage(over: TestOptions = {}) {
  const el = message("t1", "Paris is the capital of France.");
  document.body.append(el);
  return { el, ...mount({ toolbar: "none", ...over }) };
}

describe("copy", () => {
  it("records a copy from inside an answer with its length and share, without the text", () => {
    const el = answer("t1", "Paris is the capital of France."); // 31 characters
    document.body.append(el);
    const { events } = mount();
    select(el.firstChild!, 0, 5);
    copy();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: "copy", trace_id: "t1", metadata: { length: 5, share: 0.161 } });
    expect(events[0].text).toBeUndefined();
    expect(JSON.parse(JSON.stringify(events[0]))).not.toHaveProperty("text");
  });

  it("sends the copied text when copyText is on", () => {
    const el = answer("t1", "Paris is the capital of France.");
    document.body.append(el);
    const { events } = mount({ copyText: true });
    select(el.firstChild!, 0, 5);
    copy();
    expect(events[0]).toMatchObject({ kind: "copy", text: "Paris", metadata: { length: 5 } });
  });

  it("counts a whole-answer copy as share 1", () => {
    const el = answer("t1", "All of it");
    document.body.append(el);
    const { events } = mount();
    select(el);
    copy();
    expect(events[0].metadata).toEqual({ length: 9, share: 1 });
  });

  it("ignores copies outside answers, reaching out of an answer, or of nothing", () => {
    const el = answer("t1", "An answer");
    const other = document.createElement("p");
    other.textContent = "The user's own question";
    document.body.append(other, el);
    const { events } = mount();
    select(other);
    copy();
    const range = document.createRange();
    range.setStart(el.firstChild!, 0);
    range.setEnd(other.firstChild!, 3);
    const selection = document.getSelection()!;
    selection.removeAllRanges();
    selection.addRange(range);
    copy();
    selection.removeAllRanges();
    copy();
    expect(events).toEqual([]);
  });

  it("records nothing when the copy signal is off", () => {
    const el = answer("t1", "An answer");
    document.body.append(el);
    const { events } = mount({ signals: ["thumbs"] });
    select(el);
    copy();
    expect(events).toEqual([]);
  });
});

describe("copy buttons", () => {
  it("a marked copy button records the answer's source when the host gives it", () => {
    const el = answer("t1", "", { "data-feedback-source": "**Paris** is the capital of France." });
    el.innerHTML = `<div data-feedback-content><b>Paris</b> is the capital of France.</div>
      <button data-feedback-action="copy">Copy</button>`;
    document.body.append(el);
    const { events } = mount({ copyText: true });
    button(el, "copy").click();
    expect(events).toEqual([
      expect.objectContaining({
        kind: "copy",
        text: "**Paris** is the capital of France.",
        metadata: { length: 35, share: 1 },
      }),
    ]);
  });
});

describe("host-drawn buttons", () => {
  it("records up and down clicks as votes and marks the host's buttons pressed", () => {
    const { el, events } = hostPage();
    button(el, "up").click();
    expect(events[0]).toMatchObject({ kind: "thumbs", trace_id: "t1", value: 1 });
    expect(button(el, "up").getAttribute("aria-pressed")).toBe("true");
    expect(button(el, "down").getAttribute("aria-pressed")).toBe("false");
    button(el, "down").click();
    expect(events[1]).toMatchObject({ kind: "thumbs", value: -1 });
    expect(button(el, "up").getAttribute("aria-pressed")).toBe("false");
    expect(button(el, "down").getAttribute("aria-pressed")).toBe("true");
    button(el, "down").click();
    expect(events[2]).toMatchObject({ kind: "thumbs", value: 0 });
    expect(button(el, "down").getAttribute("aria-pressed")).toBe("false");
    expect(toolbars()).toHaveLength(0);
  });

  it("records a click on something inside the button", () => {
    const { el, events } = hostPage();
    const icon = document.createElement("svg");
    button(el, "up").append(icon);
    icon.dispatchEvent(new MouseEvent("click", { bubbles: true, composed: true }));
    expect(kinds(events)).toEqual(["thumbs"]);
  });

  it("records copy with the answer's content (not the buttons) as a whole", () => {
    const { el, events } = hostPage({ copyText: true });
    button(el, "copy").click();
    expect(events[0]).toMatchObject({
      kind: "copy",
      text: "Paris is the capital of France.",
      metadata: { length: 31, share: 1 },
    });
  });

  it("records regenerate", () => {
    const { el, events } = hostPage();
    button(el, "regenerate").click();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: "regenerate", trace_id: "t1" });
  });

  it("marks events on a regenerated answer with the trace it replaced", async () => {
    const { events } = hostPage();
    const next = message("t2", "Paris.");
    next.setAttribute("data-feedback-regenerated-from", "t1");
    document.body.append(next);
    await settle();
    button(next, "up").click();
    expect(events.at(-1)).toMatchObject({ kind: "thumbs", trace_id: "t2", metadata: { regenerated_from: "t1" } });
  });

  it("ignores marked buttons outside answers, and unmarked buttons inside", () => {
    const { el, events } = hostPage();
    const stray = document.createElement("button");
    stray.setAttribute("data-feedback-action", "up");
    document.body.append(stray);
    stray.click();
    const plain = document.createElement("button");
    el.append(plain);
    plain.click();
    expect(events).toEqual([]);
  });

  it("records the host's buttons inside an open shadow root", () => {
    const shadowHost = document.createElement("chat-message");
    const el = message("s1", "From a web component");
    shadowHost.attachShadow({ mode: "open" }).append(el);
    document.body.append(shadowHost);
    const { events } = mount({ toolbar: "none" });
    button(el, "up").click();
    expect(events[0]).toMatchObject({ kind: "thumbs", trace_id: "s1", value: 1 });
  });

  it("respects signals that are off", () => {
    const { el, events } = hostPage({ signals: ["thumbs"] });
    button(el, "copy").click();
    button(el, "regenerate").click();
    button(el, "edit").click();
    expect(events).toEqual([]);
    expect((el.querySelector("[data-feedback-content]") as HTMLElement).isContentEditable).toBe(false);
  });
});

describe("edit", () => {
  it("makes the answer's content editable and sends the new text when focus leaves it", () => {
    const { el, events } = hostPage();
    const content = el.querySelector("[data-feedback-content]") as HTMLElement;
    button(el, "edit").click();
    expect(content.isContentEditable).toBe(true);
    expect(document.activeElement).toBe(content);
    // The buttons are not part of what the user edits.
    expect(el.querySelector("nav")!.isContentEditable).toBe(false);
    type(content, "Paris is the capital and largest city of France.");
    content.blur();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      kind: "edit",
      trace_id: "t1",
      text: "Paris is the capital and largest city of France.",
      metadata: { text_format: "rendered" },
    });
    expect(content.isContentEditable).toBe(false);
  });

  it("sends nothing when the text did not change or was emptied", () => {
    const { el, events } = hostPage();
    const content = el.querySelector("[data-feedback-content]") as HTMLElement;
    button(el, "edit").click();
    content.blur();
    button(el, "edit").click();
    type(content, "   ");
    content.blur();
    expect(events).toEqual([]);
  });

  it("a second click on edit while editing does not start a second edit", () => {
    const { el, events } = hostPage();
    const content = el.querySelector("[data-feedback-content]") as HTMLElement;
    button(el, "edit").click();
    content.focus();
    button(el, "edit").click();
    type(content, "Changed");
    content.blur();
    expect(kinds(events)).toEqual(["edit"]);
  });

  it("edits the source the host gives, sends it as such, then puts the rendered answer back", () => {
    const el = answer("md", "", { "data-feedback-source": "**Paris** is the capital.\n\n- of France" });
    el.innerHTML = `<div data-feedback-content><p><strong>Paris</strong> is the capital.</p><ul><li>of France</li></ul></div>
      <button data-feedback-action="edit">Edit</button>`;
    document.body.append(el);
    const { events } = mount({ toolbar: "none" });
    const content = el.querySelector("[data-feedback-content]") as HTMLElement;
    const paragraph = content.firstElementChild;
    button(el, "edit").click();
    expect(content.textContent).toBe("**Paris** is the capital.\n\n- of France");
    expect(content.style.whiteSpace).toBe("pre-wrap");
    type(content, "**Paris** is the capital of France.");
    content.blur();
    expect(events[0]).toMatchObject({
      kind: "edit",
      text: "**Paris** is the capital of France.",
      metadata: { text_format: "source" },
    });
    // The very nodes the framework rendered are back.
    expect(content.firstElementChild).toBe(paragraph);
    expect(content.style.whiteSpace).toBe("");
  });

  it("takes the source from a <template data-feedback-source> inside the answer", () => {
    const el = answer("md", "");
    el.innerHTML = `<template data-feedback-source># Title</template><div data-feedback-content><h1>Title</h1></div>
      <button data-feedback-action="edit">Edit</button>`;
    document.body.append(el);
    const { events } = mount({ toolbar: "none" });
    const content = el.querySelector("[data-feedback-content]") as HTMLElement;
    button(el, "edit").click();
    expect(content.textContent).toBe("# Title");
    type(content, "# A better title");
    content.blur();
    expect(events[0]).toMatchObject({ text: "# A better title", metadata: { text_format: "source" } });
  });

  it("sends nothing when a framework rewrote the answer but the user typed nothing", () => {
    const { el, events } = hostPage();
    const content = el.querySelector("[data-feedback-content]") as HTMLElement;
    button(el, "edit").click();
    content.innerHTML = "<b>Paris</b> is the capital of France, re-rendered."; // v-html
    content.blur();
    expect(events).toEqual([]);
  });

  it("refuses to edit an answer that is still streaming", async () => {
    const { el, events } = hostPage();
    const content = el.querySelector("[data-feedback-content]") as HTMLElement;
    content.append(" More tokens");
    await settle();
    button(el, "edit").click();
    expect(content.isContentEditable).toBe(false);
    expect(events).toEqual([]);
  });
});

describe("abandonment", () => {
  function streamed(over: TestOptions = {}) {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date("2026-11-24T10:00:00Z"));
    const beacon = vi.spyOn(navigator, "sendBeacon").mockReturnValue(true);
    const old = answer("t0", "An earlier answer");
    document.body.append(old);
    const m = mount(over);
    return { ...m, beacon, old };
  }

  it("sends abandon for an answer that appeared moments ago and got no signal, when the page goes away", async () => {
    const { events, beacon } = streamed();
    // Long after the page (and its last answer, t0) loaded, a new answer streams in.
    vi.setSystemTime(new Date("2026-11-24T10:05:00Z"));
    document.body.append(answer("t1"));
    await settle();
    vi.setSystemTime(new Date("2026-11-24T10:05:12Z"));
    window.dispatchEvent(new Event("pagehide"));
    const abandoned = events.filter((e) => e.kind === "abandon");
    expect(abandoned.map((e) => e.trace_id)).toEqual(["t1"]);
    expect(abandoned[0].metadata).toEqual({ after_ms: 12_000 });
    // And the outbox went out by beacon, abandon included.
    expect(beacon).toHaveBeenCalled();
    const sent = JSON.parse(await (beacon.mock.calls[0][1] as Blob).text());
    expect(sent.events.map((e: WireEvent) => e.kind)).toContain("abandon");
  });

  it("counts the newest answer already on the page as just appeared", () => {
    const { events } = streamed();
    window.dispatchEvent(new Event("pagehide"));
    expect(events.map((e) => [e.kind, e.trace_id])).toEqual([["abandon", "t0"]]);
  });

  it("does not send abandon for an answer that got a signal", async () => {
    const { events } = streamed();
    const a = answer("t1");
    document.body.append(a);
    await settle();
    (toolbars()[1].shadowRoot!.querySelector("[part~=up]") as HTMLElement).click();
    window.dispatchEvent(new Event("pagehide"));
    // Only the newest answer can be abandoned, and it got a vote: the older t0 is not.
    expect(kinds(events)).toEqual(["thumbs"]);
  });

  it("abandons only the newest answer", async () => {
    const { events } = streamed();
    document.body.append(answer("t1"), answer("t2"));
    await settle();
    window.dispatchEvent(new Event("pagehide"));
    expect(events.map((e) => [e.kind, e.trace_id])).toEqual([["abandon", "t2"]]);
  });

  it("does not count leaving by a form just submitted (the chat's next question) as abandonment", () => {
    const { events } = streamed();
    const form = document.createElement("form");
    document.body.append(form);
    form.dispatchEvent(new Event("submit", { bubbles: true }));
    window.dispatchEvent(new Event("pagehide"));
    expect(events).toEqual([]);
  });

  it("a submit the page handled itself (an SPA) is no navigation: leaving right after is abandoning", () => {
    const { events } = streamed();
    const form = document.createElement("form");
    form.addEventListener("submit", (event) => event.preventDefault());
    document.body.append(form);
    form.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    window.dispatchEvent(new Event("pagehide"));
    expect(events.map((e) => [e.kind, e.trace_id])).toEqual([["abandon", "t0"]]);
  });

  it("history rows a virtual list mounts above the others are not the newest answer", async () => {
    const { events, old } = streamed();
    const rows = [answer("r1"), answer("r2")];
    old.before(...rows);
    await settle();
    // Scrolling up: the list mounts older rows on top and unmounts the bottom ones, t0 too.
    old.remove();
    rows[0].before(answer("h1"), answer("h2"));
    await settle();
    window.dispatchEvent(new Event("pagehide"));
    expect(events.map((e) => [e.kind, e.trace_id])).toEqual([["abandon", "t0"]]);
  });

  it("a row mounted again (scrolling back down, a re-render) is not new", async () => {
    const { events, old } = streamed();
    const newer = answer("t1");
    document.body.append(newer);
    await settle();
    old.remove();
    newer.after(answer("t0"));
    await settle();
    window.dispatchEvent(new Event("pagehide"));
    expect(events.map((e) => [e.kind, e.trace_id])).toEqual([["abandon", "t1"]]);
  });

  it("in a new conversation (the old messages gone) the new answer is the newest", async () => {
    const { events, old } = streamed();
    old.remove();
    document.body.append(answer("fresh"));
    await settle();
    window.dispatchEvent(new Event("pagehide"));
    expect(events.map((e) => [e.kind, e.trace_id])).toEqual([["abandon", "fresh"]]);
  });

  it("does not send abandon once abandonAfter seconds have passed", async () => {
    const { events } = streamed({ abandonAfter: 30 });
    document.body.append(answer("t1"));
    await settle();
    vi.setSystemTime(new Date("2026-11-24T10:00:31Z"));
    window.dispatchEvent(new Event("pagehide"));
    expect(events).toEqual([]);
  });

  it("sends abandon once, even when the tab is hidden and left again", async () => {
    const { events } = streamed();
    Object.defineProperty(document, "visibilityState", { configurable: true, value: "hidden" });
    document.dispatchEvent(new Event("visibilitychange"));
    expect(kinds(events)).toEqual(["abandon"]);
    window.dispatchEvent(new Event("pagehide"));
    expect(kinds(events)).toEqual(["abandon"]);
  });

  it("a tab becoming visible is not leaving", () => {
    const { events, beacon } = streamed();
    Object.defineProperty(document, "visibilityState", { configurable: true, value: "visible" });
    document.dispatchEvent(new Event("visibilitychange"));
    expect(events).toEqual([]);
    expect(beacon).not.toHaveBeenCalled();
  });

  it("records no abandon when the abandon signal is off, but still hands the outbox over", () => {
    const { events, beacon, core } = streamed({ signals: ["thumbs"] });
    core._vote("t0", 1);
    window.dispatchEvent(new Event("pagehide"));
    expect(kinds(events)).toEqual(["thumbs"]);
    expect(beacon).toHaveBeenCalledTimes(1);
  });
});

describe("regenerated answers", () => {
  const links = (events: WireEvent[]) =>
    events.filter((e) => e.name === "regenerated").map((e) => [e.kind, e.trace_id, e.metadata]);

  it("sends the link as soon as the new answer appears, untouched", async () => {
    const { events } = hostPage();
    const next = message("t2", "Paris.");
    next.setAttribute("data-feedback-regenerated-from", "t1");
    document.body.append(next);
    await settle();
    expect(links(events)).toEqual([["custom", "t2", { regenerated_from: "t1" }]]);
  });

  it("sends it when the attribute is set after the answer appeared, once", async () => {
    const { events } = hostPage();
    const next = message("t2", "Paris.");
    document.body.append(next);
    await settle();
    expect(links(events)).toEqual([]);
    next.setAttribute("data-feedback-regenerated-from", "t1");
    await settle();
    next.replaceWith(next.cloneNode(true)); // a re-render
    await settle();
    expect(links(events)).toEqual([["custom", "t2", { regenerated_from: "t1" }]]);
  });

  it("sends no second link for a regeneration the page reported by API", async () => {
    const { core, events } = hostPage();
    core._state("t2")._from = "t1"; // what FeedbackLoop.regenerate("t1", {newTraceId: "t2"}) records
    const next = message("t2", "Paris.");
    next.setAttribute("data-feedback-regenerated-from", "t1");
    document.body.append(next);
    await settle();
    expect(links(events)).toEqual([]);
  });

  it("the link is not a signal: leaving right after the new answer appeared is abandoning it", async () => {
    vi.spyOn(navigator, "sendBeacon").mockReturnValue(true);
    const { events } = hostPage();
    const next = message("t2", "Paris.");
    next.setAttribute("data-feedback-regenerated-from", "t1");
    document.body.append(next);
    await settle();
    window.dispatchEvent(new Event("pagehide"));
    expect(events.map((e) => [e.kind, e.trace_id])).toEqual([
      ["custom", "t2"],
      ["abandon", "t2"],
    ]);
  });

  it("sends no link with the regenerate signal off", async () => {
    const { events } = hostPage({ signals: ["thumbs"] });
    const next = message("t2", "Paris.");
    next.setAttribute("data-feedback-regenerated-from", "t1");
    document.body.append(next);
    await settle();
    expect(events).toEqual([]);
  });
});
