import { describe, expect, it, vi } from "vitest";
import { answer, drawVisible, mount, part, settle, toolbars } from "./helpers";

/** The toolbar drawn for an answer: the element right after it. */
const toolbarOf = (el: Element) => {
  drawVisible();
  const next = el.nextElementSibling;
  return next?.hasAttribute("data-feedback-toolbar") ? (next as HTMLElement) : null;
};

describe("attach", () => {
  it("adds nothing to the page until an answer comes near the viewport", () => {
    document.body.append(answer("t1"), answer("t2"));
    mount();
    expect(document.querySelectorAll("[data-feedback-toolbar]")).toHaveLength(0);
    drawVisible(); // the browser reports both answers within a screen of the viewport
    expect(document.querySelectorAll("[data-feedback-toolbar]")).toHaveLength(2);
  });

  it("gives each answer on the page at start one toolbar, right after it", () => {
    const a = answer("t1");
    const b = answer("t2");
    const other = document.createElement("p");
    document.body.append(a, other, b);
    mount();
    expect(toolbars()).toHaveLength(2);
    expect(toolbarOf(a)).not.toBeNull();
    expect(toolbarOf(b)).not.toBeNull();
    expect(toolbarOf(other)).toBeNull();
  });

  it("gives an answer added later a toolbar once the page changes are observed", async () => {
    mount();
    const list = document.createElement("section");
    document.body.append(list);
    const a = answer("t1");
    list.append(a);
    await settle();
    expect(toolbars()).toHaveLength(1);
    expect(toolbarOf(a)).not.toBeNull();
  });

  it("finds answers nested inside added content", async () => {
    mount();
    const message = document.createElement("article");
    message.innerHTML = `<header>Bot</header><div class="body"><div data-feedback-trace="t9">Hi</div></div>`;
    document.body.append(message);
    await settle();
    expect(toolbars(message)).toHaveLength(1);
    expect(toolbarOf(message.querySelector("[data-feedback-trace]")!)).not.toBeNull();
  });

  it("never draws two toolbars for the same element", async () => {
    const a = answer("t1");
    document.body.append(a);
    const { attacher } = mount();
    attacher._attach(a);
    attacher._attach(a, { traceId: "t1" });
    await settle();
    a.append(" more");
    await settle();
    expect(toolbars()).toHaveLength(1);
  });

  it("attaches an element by API, giving it the trace id", async () => {
    const { attacher, core, events } = mount();
    const el = document.createElement("div");
    el.textContent = "An answer drawn by a framework";
    document.body.append(el);
    attacher._attach(el, { traceId: "api-1", token: "tok-1" });
    await settle();
    expect(el.getAttribute("data-feedback-trace")).toBe("api-1");
    expect(toolbars()).toHaveLength(1);
    part(toolbars()[0], "up").click();
    expect(events[0]).toMatchObject({ trace_id: "api-1", token: "tok-1", kind: "thumbs", value: 1 });
    expect(core._state("api-1")._vote).toBe(1);
  });

  it("sends the answer's token with its events", () => {
    document.body.append(answer("t1", "x", { "data-feedback-token": "signed.token" }));
    const { events } = mount();
    part(toolbars()[0], "up").click();
    expect(events[0].token).toBe("signed.token");
  });

  it("keeps the vote when a framework replaces the answer with a new element for the same trace", async () => {
    const old = answer("t1");
    document.body.append(old);
    mount();
    part(toolbars()[0], "down").click();
    expect(part(toolbars()[0], "down").getAttribute("aria-pressed")).toBe("true");

    const fresh = answer("t1", "The answer to t1, re-rendered");
    old.replaceWith(fresh);
    await settle();
    expect(toolbars()).toHaveLength(1);
    const host = toolbarOf(fresh)!;
    expect(host).not.toBeNull();
    expect(part(host, "down").getAttribute("aria-pressed")).toBe("true");
    expect(part(host, "up").getAttribute("aria-pressed")).toBe("false");
  });

  it("gives the toolbar back when a morphing re-render drops it but keeps the answer", async () => {
    const a = answer("t1");
    document.body.append(a);
    mount();
    part(toolbars()[0], "up").click();
    toolbars()[0].remove(); // idiomorph / morphdom remove nodes the new HTML does not have
    await settle();
    expect(toolbars()).toHaveLength(1);
    expect(toolbarOf(a)).not.toBeNull();
    expect(part(toolbarOf(a)!, "up").getAttribute("aria-pressed")).toBe("true");
  });

  it("removes the toolbar of an answer that leaves the page", async () => {
    const a = answer("t1");
    document.body.append(a);
    mount();
    a.remove();
    await settle();
    expect(toolbars()).toHaveLength(0);
  });

  it("redraws the toolbar when the answer's trace id changes", async () => {
    const a = answer("t1");
    document.body.append(a);
    const { events } = mount();
    a.setAttribute("data-feedback-trace", "t2");
    await settle();
    expect(toolbars()).toHaveLength(1);
    part(toolbarOf(a)!, "up").click();
    expect(events[events.length - 1]).toMatchObject({ trace_id: "t2", value: 1 });
  });

  it("finds answers inside open shadow roots, present at start or added later", async () => {
    const host1 = document.createElement("chat-message");
    host1.attachShadow({ mode: "open" }).append(answer("s1"));
    document.body.append(host1);
    mount();
    expect(toolbars(host1.shadowRoot!)).toHaveLength(1);

    const host2 = document.createElement("chat-message");
    const root2 = host2.attachShadow({ mode: "open" });
    root2.append(answer("s2"));
    document.body.append(host2);
    await settle();
    expect(toolbars(root2)).toHaveLength(1);

    // An answer rendered into a known shadow root later.
    const late = answer("s3");
    host1.shadowRoot!.append(late);
    await settle();
    expect(toolbarOf(late)).not.toBeNull();
    expect(toolbars(host1.shadowRoot!)).toHaveLength(2);
    expect(toolbars()).toHaveLength(0); // none drawn in the light DOM
  });

  it("finds answers in a shadow root attached after it started, with no mutation of the page", async () => {
    const card = document.createElement("answer-card");
    document.body.append(card);
    mount();
    // A component attaching its root (and rendering into it) once it is defined or first renders.
    const root = card.attachShadow({ mode: "open" });
    const late = answer("late");
    root.append(late);
    await settle();
    expect(toolbars(root)).toHaveLength(1);
    expect(toolbarOf(late)).not.toBeNull();
  });

  it("finds answers of a custom element defined after it started", async () => {
    const card = document.createElement("defined-later");
    card.setAttribute("trace", "upgraded");
    document.body.append(card);
    mount();
    customElements.define(
      "defined-later",
      class extends HTMLElement {
        connectedCallback() {
          this.attachShadow({ mode: "open" }).append(answer(this.getAttribute("trace")!));
        }
      },
    );
    await settle();
    expect(toolbars(card.shadowRoot!)).toHaveLength(1);
  });

  it("leaves closed shadow roots and its own toolbars' roots alone, and still makes the roots", async () => {
    const card = document.createElement("private-card");
    document.body.append(card, answer("t1"));
    const { core } = mount();
    const errors = vi.fn();
    core._on("error", errors);
    const closed = card.attachShadow({ mode: "closed" });
    closed.append(answer("hidden"));
    await settle();
    expect(closed.querySelector("[data-feedback-toolbar]")).toBeNull();
    expect(toolbars()).toHaveLength(1);
    expect(errors).not.toHaveBeenCalled();
    expect(() => card.attachShadow({ mode: "open" })).toThrow(); // as without the widget
  });

  it("lets text stream into a known answer without drawing toolbars or failing", async () => {
    const a = answer("t1", "");
    const paragraph = document.createElement("p");
    a.append(paragraph);
    document.body.append(a);
    const { core } = mount();
    const errors = vi.fn();
    core._on("error", errors);
    for (let i = 0; i < 200; i++) {
      paragraph.append(document.createTextNode("token" + i + " "));
      if (i % 20 === 0) a.append(document.createElement("p"));
      if (i % 10 === 0) await settle();
    }
    await settle();
    expect(toolbars()).toHaveLength(1);
    expect(errors).not.toHaveBeenCalled();
    expect(paragraph.textContent).toContain("token199");
  });

  it("does not search the content streaming into a known answer", async () => {
    const a = answer("t1", "");
    document.body.append(a);
    mount();
    const search = vi.spyOn(Element.prototype, "querySelectorAll");
    for (let i = 0; i < 50; i++) {
      const chunk = document.createElement("span");
      chunk.innerHTML = "<b>token</b> " + i;
      a.append(chunk);
      await settle();
    }
    expect(search).not.toHaveBeenCalled();
    expect(toolbars()).toHaveLength(1);
  });

  it("draws nothing with toolbar: none, but still knows the answers and their tokens", async () => {
    document.body.append(answer("t1", "x", { "data-feedback-token": "tok1" }));
    const { core, events } = mount({ toolbar: "none" });
    document.body.append(answer("t2", "y", { "data-feedback-token": "tok2" }));
    await settle();
    expect(toolbars()).toHaveLength(0);
    core._vote("t1", 1);
    core._vote("t2", -1);
    expect(events.map((e) => e.token)).toEqual(["tok1", "tok2"]);
  });

  it("uses data-selector's selector instead of data-feedback-trace to find answers", async () => {
    mount({ selector: ".bot" });
    const plain = document.createElement("div");
    plain.className = "user";
    document.body.append(plain, answer("t1"));
    await settle();
    expect(toolbars()).toHaveLength(0);
    const bot = answer("t2");
    bot.className = "bot";
    document.body.append(bot);
    await settle();
    expect(toolbars()).toHaveLength(1);
    expect(toolbarOf(bot)).not.toBeNull();
  });
});
