import { describe, expect, it } from "vitest";
import { defaults, fromScript, strings } from "../src/config";

function script(attrs: Record<string, string>) {
  const el = document.createElement("script");
  for (const name in attrs) el.setAttribute(name, attrs[name]);
  return el;
}

describe("fromScript", () => {
  it("reads endpoint, key, selector, toolbar and theme from data-* attributes", () => {
    const o = fromScript(
      script({
        "data-endpoint": "https://example.com/feedback/api/v1/events",
        "data-key": "pk_abc",
        "data-selector": ".answer",
        "data-toolbar": "none",
        "data-theme": "dark",
        "data-locale": "de",
        "data-user-id": "u7",
        "data-session-id": "s9",
      }),
    );
    expect(o).toMatchObject({
      endpoint: "https://example.com/feedback/api/v1/events",
      key: "pk_abc",
      selector: ".answer",
      toolbar: "none",
      theme: "dark",
      locale: "de",
      userId: "u7",
      sessionId: "s9",
    });
  });

  it("reads signals as a comma-separated list", () => {
    expect(fromScript(script({ "data-signals": "thumbs, rating,,copy " })).signals).toEqual([
      "thumbs",
      "rating",
      "copy",
    ]);
  });

  it("reads reasons as id:label pairs, the id standing in for a missing label", () => {
    expect(fromScript(script({ "data-reasons": "slow:Too slow, tone : Wrong tone, outdated" })).reasons).toEqual([
      { id: "slow", label: "Too slow" },
      { id: "tone", label: "Wrong tone" },
      { id: "outdated", label: "outdated" },
    ]);
  });

  it("reads data-copy-text as a boolean", () => {
    expect(fromScript(script({ "data-copy-text": "true" })).copyText).toBe(true);
    expect(fromScript(script({ "data-copy-text": "false" })).copyText).toBe(false);
  });

  it("leaves out what the tag does not set, so defaults apply", () => {
    const o = fromScript(script({ "data-key": "pk" }));
    expect(o).toEqual({ key: "pk" });
    expect({ ...defaults, ...o }.signals).toEqual(defaults.signals);
  });

  it("reads the server's limits, token requirement and error modes that the template tag writes", () => {
    const o = {
      ...defaults,
      ...fromScript(
        script({
          "data-max-batch-size": "20",
          "data-rating-scale": "10",
          "data-max-comment-chars": "500",
          "data-require-token": "false",
          "data-error-modes": '[{"id": "format", "label": "Format"}, {"id": "tone", "label": "Wrong tone"}]',
        }),
      ),
    };
    expect(Math.min(o.batchSize, o.maxBatchSize)).toBe(20);
    expect(o.ratingScale * 1).toBe(10);
    expect(o.maxCommentChars * 1).toBe(500);
    expect(o.requireToken).toBe("false");
    expect(fromScript(script({ "data-require-token": "true" })).requireToken).toBe("true");
    expect(o.errorModes).toEqual([
      { id: "format", label: "Format" },
      { id: "tone", label: "Wrong tone" },
    ]);
  });

  it("without the server's attributes (a tag written by hand) keeps the server's defaults", () => {
    const o = { ...defaults, ...fromScript(script({ "data-key": "pk" })) };
    expect([o.maxBatchSize, o.ratingScale, o.maxCommentChars, o.maxTextChars, o.maxReasons]).toEqual([
      100, 5, 4000, 65536, 10,
    ]);
    expect(o.requireToken).toBeUndefined();
    expect(o.errorModes).toBeUndefined();
  });

  it("ignores malformed error modes rather than failing to load", () => {
    expect(fromScript(script({ "data-error-modes": "[{oops" })).errorModes).toBeUndefined();
  });

  it("numbers from the tag work where the widget uses them", () => {
    const o = { ...defaults, ...fromScript(script({ "data-abandon-after": "30", "data-batch-size": "20" })) };
    expect(o.abandonAfter * 1000).toBe(30_000);
    expect(Math.min(o.batchSize, 100)).toBe(20);
  });
});

describe("strings", () => {
  it("is English by default", () => {
    const s = strings({ ...defaults, locale: "en" });
    expect(s.up).toBe("Good answer");
    expect(s.down).toBe("Bad answer");
    expect(s.rate.replace("%n", "3").replace("%m", "5")).toBe("Rate 3 of 5");
    expect(s.hallucination).toBe("Made things up");
  });

  it("follows the locale option, then the page's lang", () => {
    expect(strings({ ...defaults, locale: "de-AT" }).up).toBe("Gute Antwort");
    document.documentElement.lang = "de";
    expect(strings(defaults).thanks).toBe("Danke!");
    expect(strings({ ...defaults, locale: "en-GB" }).thanks).toBe("Thanks!");
  });

  it("falls back to English for a language it does not have", () => {
    expect(strings({ ...defaults, locale: "xx" }).send).toBe("Send");
  });

  it("has every string in every language", () => {
    for (const locale of ["en", "de"]) {
      const s = strings({ ...defaults, locale });
      for (const [key, value] of Object.entries(s)) expect(value, `${locale}.${key}`).toBeTruthy();
      expect(Object.keys(s)).toHaveLength(15);
    }
  });

  it("lets the page override single strings", () => {
    const s = strings({ ...defaults, locale: "de", strings: { up: "Hilfreich" } });
    expect(s.up).toBe("Hilfreich");
    expect(s.down).toBe("Schlechte Antwort");
  });
});
