import { describe, expect, it, vi } from "vitest";
import { createCore } from "../src/core";
import { memory } from "../src/memory";
import { answer, MemoryStorage, mount, options, part, parts, toolbars } from "./helpers";

describe("memory of what the user pressed", () => {
  it("keeps each trace's last vote and rating, per project, across page loads", () => {
    const storage = new MemoryStorage();
    document.body.append(answer("t1"), answer("t2"));
    mount({ storage, signals: ["thumbs", "rating"] });
    part(toolbars()[0], "up").click();
    parts(toolbars()[1], "star")[3].click();
    part(toolbars()[1], "down").click();

    // A reload: a new page, the same storage. Its toolbars draw what the state says.
    const again = createCore(options({ storage }));
    expect([again._state("t1")._vote, again._state("t1")._rating]).toEqual([1, 0]);
    expect([again._state("t2")._vote, again._state("t2")._rating]).toEqual([-1, 4]);
    expect(again._state("t3")._vote).toBe(0);
    // Pressing the remembered thumb again retracts it, and that is remembered too.
    expect(again._flip("t1", 1)).toBe(0);
    expect(createCore(options({ storage }))._state("t1")._vote).toBe(0);
    expect(createCore(options({ storage, key: "pk_other" }))._state("t2")._vote).toBe(0);
  });

  it("keeps the newest 200 traces", () => {
    const storage = new MemoryStorage();
    mount({ storage });
    const m = memory("pk_test");
    for (let i = 0; i < 250; i++) m._keep("t" + i, 1, 0);
    const reloaded = memory("pk_test");
    expect(reloaded._recall("t49")).toBeUndefined();
    expect(reloaded._recall("t50")).toEqual([1, 0]);
    expect(JSON.parse(storage.getItem("fl:v:pk_test")!)).toHaveLength(200);
  });

  it("a trace pressed on an earlier page is not abandoned when the user leaves", () => {
    vi.spyOn(navigator, "sendBeacon").mockReturnValue(true);
    const storage = new MemoryStorage();
    document.body.append(answer("t1"));
    mount({ storage }).core._vote("t1", 1);
    document.body.innerHTML = "";
    document.body.append(answer("t1"));
    const { events } = mount({ storage });
    window.dispatchEvent(new Event("pagehide"));
    expect(events).toEqual([]);
  });

  it("works without storage, and with unreadable storage", () => {
    const storage = new MemoryStorage();
    storage.setItem("fl:v:pk_test", "{not json");
    mount({ storage });
    expect(memory("pk_test")._recall("t1")).toBeUndefined();
    mount({ storage: null });
    const m = memory("pk_test");
    expect(() => m._keep("t1", 1, 0)).not.toThrow();
    expect(m._recall("t1")).toEqual([1, 0]);
  });
});
