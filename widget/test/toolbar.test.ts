import { describe, expect, it, vi } from "vitest";
import type { WireEvent } from "../src/transport";
import { answer, type Mounted, mount, part, parts, settle, type TestOptions, toolbars } from "./helpers";

function setup(over: TestOptions = {}) {
  document.body.append(answer("t1"));
  const m = mount(over);
  return { ...m, host: toolbars()[0] };
}

const pressed = (el: Element) => el.getAttribute("aria-pressed");
const key = (el: Element, key: string) =>
  el.dispatchEvent(new KeyboardEvent("keydown", { key, bubbles: true, composed: true }));
const popover = (host: Element) => host.shadowRoot!.querySelector("[part=popover]") as HTMLElement | null;
const isOpen = (host: Element) => !!popover(host) && !popover(host)!.hidden;
const thumbs = (m: Mounted) => m.events.filter((e) => e.kind === "thumbs").map((e) => e.value);

describe("toolbar", () => {
  it("is isolated in a shadow root, labelled, with thumbs that are toggle buttons", () => {
    const { host } = setup({ locale: "en" });
    expect(host.shadowRoot).not.toBeNull();
    expect(host.shadowRoot!.querySelector("[role=group]")!.getAttribute("aria-label")).toBe("Feedback");
    const up = part(host, "up");
    const down = part(host, "down");
    expect(up.getAttribute("aria-label")).toBe("Good answer");
    expect(down.getAttribute("aria-label")).toBe("Bad answer");
    expect(pressed(up)).toBe("false");
    expect(pressed(down)).toBe("false");
  });

  it("submits no form of the page's around it", () => {
    const page = document.createElement("form");
    const submitted = vi.fn((event: Event) => event.preventDefault());
    page.addEventListener("submit", submitted);
    const el = answer("t1");
    page.append(el);
    document.body.append(page);
    const m = mount();
    const [host] = toolbars();
    part(host, "down").click();
    parts(host, "chip")[0].click();
    part(host, "send").click();
    expect(submitted).not.toHaveBeenCalled();
    expect(m.events.map((e) => e.reasons)).toEqual([undefined, ["hallucination"]]);
  });

  it("speaks the page's language", () => {
    const { host } = setup({ locale: "de" });
    expect(part(host, "up").getAttribute("aria-label")).toBe("Gute Antwort");
  });

  it("thumbs up sends value 1; a second click retracts it with value 0", () => {
    const m = setup();
    const up = part(m.host, "up");
    up.click();
    expect(m.events[0]).toMatchObject({ kind: "thumbs", trace_id: "t1", value: 1, session_id: "s1" });
    expect(m.events[0].event_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(pressed(up)).toBe("true");
    up.click();
    expect(thumbs(m)).toEqual([1, 0]);
    expect(pressed(up)).toBe("false");
    expect(isOpen(m.host)).toBe(false);
  });

  it("a click on the thumb's icon counts as a click on the thumb", () => {
    const m = setup();
    const path = part(m.host, "up").querySelector("path")!;
    path.dispatchEvent(new MouseEvent("click", { bubbles: true, composed: true }));
    expect(thumbs(m)).toEqual([1]);
  });

  it("switching from up to down sends -1 and moves the pressed state", () => {
    const m = setup();
    part(m.host, "up").click();
    part(m.host, "down").click();
    expect(thumbs(m)).toEqual([1, -1]);
    expect(pressed(part(m.host, "up"))).toBe("false");
    expect(pressed(part(m.host, "down"))).toBe("true");
  });

  it("thumbs down sends -1 at once and opens the popover with the built-in and configured reasons", () => {
    const m = setup({ reasons: [{ id: "slow", label: "Too slow" }], locale: "en" });
    part(m.host, "down").click();
    expect(thumbs(m)).toEqual([-1]);
    expect(isOpen(m.host)).toBe(true);
    const form = popover(m.host)!;
    expect(form.getAttribute("role")).toBe("dialog");
    expect(form.getAttribute("aria-label")).toBe("What went wrong?");
    expect(parts(m.host, "chip").map((c) => [c.textContent, c.getAttribute("aria-pressed")])).toEqual([
      ["Made things up", "false"],
      ["Wrong format", "false"],
      ["Refused", "false"],
      ["Too long", "false"],
      ["Too slow", "false"],
    ]);
    expect(part(m.host, "comment").getAttribute("aria-label")).toBe("Tell us more (optional)");
  });

  it("moves focus into the popover, to its first reason", () => {
    const m = setup();
    part(m.host, "down").click();
    expect(m.host.shadowRoot!.activeElement).toBe(parts(m.host, "chip")[0]);
  });

  it("Escape closes the popover and gives focus back to the down button", () => {
    const m = setup();
    const down = part(m.host, "down");
    down.click();
    key(parts(m.host, "chip")[0], "Escape");
    expect(isOpen(m.host)).toBe(false);
    expect(m.host.shadowRoot!.activeElement).toBe(down);
    // Closing is not a new vote.
    expect(thumbs(m)).toEqual([-1]);
  });

  it("the close button closes the popover too", () => {
    const m = setup();
    part(m.host, "down").click();
    part(m.host, "close").click();
    expect(isOpen(m.host)).toBe(false);
    expect(m.host.shadowRoot!.activeElement).toBe(part(m.host, "down"));
  });

  it("submit sends a thumbs -1 event with the chosen reasons and the comment, then closes", () => {
    const m = setup({ reasons: [{ id: "slow", label: "Too slow" }] });
    part(m.host, "down").click();
    const chips = parts(m.host, "chip");
    chips[0].click(); // hallucination
    chips[4].click(); // slow
    chips[2].click(); // refusal...
    chips[2].click(); // ...changed my mind
    expect(chips.map(pressed)).toEqual(["true", "false", "false", "false", "true"]);
    part<HTMLTextAreaElement>(m.host, "comment").value = "  made up a citation  ";
    part(m.host, "send").click();
    expect(m.events).toHaveLength(2);
    expect(m.events[1]).toMatchObject({
      kind: "thumbs",
      trace_id: "t1",
      value: -1,
      reasons: ["hallucination", "slow"],
      comment: "made up a citation",
    });
    expect(isOpen(m.host)).toBe(false);
    expect(pressed(part(m.host, "down"))).toBe("true");
  });

  it("submitting nothing sends nothing more", () => {
    const m = setup();
    part(m.host, "down").click();
    part(m.host, "send").click();
    expect(m.events).toHaveLength(1);
    expect(isOpen(m.host)).toBe(false);
  });

  it("opens a fresh popover each time", () => {
    const m = setup();
    const down = part(m.host, "down");
    down.click();
    parts(m.host, "chip")[1].click();
    part<HTMLTextAreaElement>(m.host, "comment").value = "old";
    down.click(); // retract: closes
    expect(isOpen(m.host)).toBe(false);
    expect(thumbs(m)).toEqual([-1, 0]);
    down.click();
    expect(isOpen(m.host)).toBe(true);
    expect(parts(m.host, "chip").map(pressed)).toEqual(["false", "false", "false", "false"]);
    expect(part<HTMLTextAreaElement>(m.host, "comment").value).toBe("");
  });

  it("does not open a popover when neither reasons nor comments are asked for", () => {
    const m = setup({ signals: ["thumbs"] });
    part(m.host, "down").click();
    expect(thumbs(m)).toEqual([-1]);
    expect(popover(m.host)).toBeNull();
  });

  it("asks only for a comment when reasons are off", () => {
    const m = setup({ signals: ["thumbs", "comment"] });
    part(m.host, "down").click();
    expect(parts(m.host, "chip")).toHaveLength(0);
    expect(m.host.shadowRoot!.activeElement).toBe(part(m.host, "comment"));
  });

  it("shows stars only with the rating signal, and sends the rating", () => {
    expect(parts(setup().host, "star")).toHaveLength(0);
    document.body.innerHTML = "";
    const m = setup({ signals: ["thumbs", "rating"], locale: "en" });
    const stars = parts(m.host, "star");
    expect(stars).toHaveLength(5);
    expect(stars[2].getAttribute("aria-label")).toBe("Rate 3 of 5");
    stars[3].click();
    expect(m.events[0]).toMatchObject({ kind: "rating", value: 4 });
    expect(stars.map(pressed)).toEqual(["true", "true", "true", "true", "false"]);
  });

  it("offers the project's error modes, the built-in ones in the widget's words", () => {
    const m = setup({
      locale: "de",
      errorModes: [
        { id: "hallucination", label: "Hallucination" },
        { id: "tone", label: "Falscher Ton" },
      ],
      reasons: [{ id: "slow", label: "Zu langsam" }],
    });
    part(m.host, "down").click();
    expect(parts(m.host, "chip").map((c) => [c.dataset.r, c.textContent])).toEqual([
      ["hallucination", "Erfunden"],
      ["tone", "Falscher Ton"],
      ["slow", "Zu langsam"],
    ]);
  });

  it("follows the server's rating scale, comment length and number of reasons", () => {
    const m = setup({ signals: ["thumbs", "reasons", "comment", "rating"], ratingScale: 10, maxCommentChars: 500, maxReasons: 2 });
    const stars = parts(m.host, "star");
    expect(stars).toHaveLength(10);
    expect(stars[6].getAttribute("aria-label")).toBe("Rate 7 of 10");
    part(m.host, "down").click();
    expect(part(m.host, "comment").getAttribute("maxlength")).toBe("500");
    for (const chip of parts(m.host, "chip").slice(0, 3)) chip.click();
    part(m.host, "send").click();
    expect(m.events[1].reasons).toEqual(["hallucination", "format"]);
  });

  it("shows no thumbs without the thumbs signal", () => {
    const m = setup({ signals: ["rating"] });
    expect(parts(m.host, "up")).toHaveLength(0);
    expect(parts(m.host, "star")).toHaveLength(5);
  });

  it("keeps every toolbar of a trace in step", () => {
    document.body.append(answer("t1"), answer("t1"));
    mount();
    const [a, b] = toolbars();
    part(a, "up").click();
    expect(pressed(part(b, "up"))).toBe("true");
  });

  it("says thanks once the server accepted the vote, and 'not sent' when it rejected it", async () => {
    const m = setup({ locale: "en" });
    const status = () => m.host.shadowRoot!.querySelector("[role=status]")!.textContent;
    part(m.host, "up").click();
    expect(status()).toBe("");
    await m.core._queue._flush();
    expect(status()).toBe("Thanks!");

    m.send.mockImplementation(async (_e: string, payload: string) => ({
      status: 200,
      retryAfter: 0,
      results: JSON.parse(payload).events.map((e: WireEvent) => ({
        event_id: e.event_id,
        status: "rejected",
        error: { code: "token_expired", message: "expired" },
      })),
    }));
    part(m.host, "up").click();
    expect(status()).toBe("");
    await m.core._queue._flush();
    expect(status()).toBe("Not sent");
  });

  it("follows a fixed theme", () => {
    expect(setup({ theme: "dark" }).host.dataset.theme).toBe("dark");
  });
});

describe("placement", () => {
  it("goes where the host names a slot inside the answer, not beside it", async () => {
    const el = answer("t1");
    const slot = document.createElement("footer");
    slot.setAttribute("data-feedback-toolbar-slot", "");
    el.append(slot);
    document.body.append(el);
    const { core } = mount();
    const [host] = toolbars();
    expect(host.parentElement).toBe(slot);
    await settle();
    // Drawing it inside the answer is no change of the answer (edits stay allowed).
    expect(core._state("t1")._changed).toBeUndefined();
  });

  it("labels the stars as a rating, visibly", () => {
    const { host } = setup({ signals: ["rating"], locale: "en" });
    const group = host.shadowRoot!.querySelector("[part=rating]")!;
    expect(group.getAttribute("role")).toBe("group");
    expect(group.getAttribute("aria-label")).toBe("Rating");
    expect(group.firstChild!.textContent).toBe("Rating");
    expect(group.querySelectorAll("[part~=star]")).toHaveLength(5);
  });

  /** Lay the page out: a viewport `width` wide and 600 px high, the toolbar 30 px high, the
   * popover 200 px high and 274 px wide (256 px of content, padding and border) at `left`, below
   * a toolbar at `y`; `below` is what the page shows at the popover's bottom edge. */
  const layout = (m: { host: HTMLElement }, width: number, left: number, y: number, below: Element) => {
    vi.spyOn(document.documentElement, "clientWidth", "get").mockReturnValue(width);
    vi.spyOn(m.host, "offsetHeight", "get").mockReturnValue(30);
    vi.spyOn(Element.prototype, "getBoundingClientRect").mockImplementation(function (this: Element) {
      const top = y + 30;
      return this.getAttribute("part") === "popover"
        ? ({ left, right: left + 274, top, bottom: top + 200, width: 274, height: 200 } as DOMRect)
        : ({ left: 0, right: 0, top: 0, bottom: 0, width: 0, height: 0 } as DOMRect);
    });
    vi.spyOn(m.host.getRootNode() as Document, "elementFromPoint").mockReturnValue(below);
  };
  const shift = (m: { host: HTMLElement }) => popover(m.host)!.style.translate;

  it("opens the popover upward when its bottom cannot be seen (clipped, or under the page's input)", () => {
    const m = setup();
    layout(m, 1280, 40, 100, m.host); // room below: the popover is what is there
    part(m.host, "down").click();
    expect(shift(m)).toBe("0px 0px");
    part(m.host, "close").click();
    part(m.host, "down").click(); // retract
    layout(m, 1280, 40, 380, document.body); // something else is at its bottom edge
    part(m.host, "down").click();
    expect(shift(m)).toBe("0px -230px"); // its height and the toolbar's: its bottom on the toolbar's top
  });

  it("keeps the popover inside a narrow viewport sideways, on either side", () => {
    const m = setup();
    layout(m, 320, 56, 100, m.host); // 10 px past the right edge of a 320 px viewport
    part(m.host, "down").click();
    expect(shift(m)).toBe("-10px 0px");
    part(m.host, "close").click();
    part(m.host, "down").click();
    layout(m, 360, 250, 100, m.host); // a right-aligned bubble's: 164 px past
    part(m.host, "down").click();
    expect(shift(m)).toBe("-164px 0px");
    part(m.host, "close").click();
    part(m.host, "down").click();
    layout(m, 320, -30, 100, m.host); // past the left edge (a right-to-left page)
    part(m.host, "down").click();
    expect(shift(m)).toBe("30px 0px");
  });

  it("moves the popover into the viewport when it fits neither below nor above", () => {
    const m = setup();
    layout(m, 1280, 40, 150, document.body); // hidden below; above, its top 50 px out of sight
    part(m.host, "down").click();
    expect(shift(m)).toBe("0px -180px"); // its top at the viewport's top
  });

  it("says thanks only once the popover is sent or dismissed", async () => {
    const m = setup({ locale: "en" });
    const status = () => m.host.shadowRoot!.querySelector("[role=status]")!.textContent;
    part(m.host, "down").click();
    await m.core._queue._flush();
    expect(status()).toBe(""); // accepted, but the popover still asks what went wrong
    key(parts(m.host, "chip")[0], "Escape");
    expect(status()).toBe("Thanks!");
  });
});
