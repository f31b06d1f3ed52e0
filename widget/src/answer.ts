// What an answer says: its text as rendered, and its source (e.g. the Markdown the model wrote)
// when the host gives it.

/** The part holding the answer's text: its [data-feedback-content] when the host marks one (so
 * that the host's buttons inside the message are not part of it). */
export const content = (answer: Element) =>
  (answer.querySelector("[data-feedback-content]") || answer) as HTMLElement;

export const rendered = (answer: Element) => {
  const el = content(answer);
  return el.innerText ?? el.textContent ?? "";
};

/** The source the host gives: data-feedback-source, or a <template data-feedback-source>. */
export const source = (answer: Element): string | undefined =>
  answer.getAttribute("data-feedback-source") ??
  (answer.querySelector("template[data-feedback-source]") as HTMLTemplateElement | null)?.content
    .textContent ??
  undefined;

/** The answer as the user was shown it: its source when the host gives one. */
export const shown = (answer: Element) => source(answer) ?? rendered(answer);

/** The element a node is or is in (a text node's parent). */
export const elementOf = (node?: Node | null) =>
  node && (node.nodeType === 1 ? (node as Element) : node.parentElement);
