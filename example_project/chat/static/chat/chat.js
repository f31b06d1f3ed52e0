// The demo's edit button: the widget (listening in the capture phase) makes the answer editable
// and sends the new version when the answer loses focus; Save stands in for Edit meanwhile, so
// the user sees how to finish (pressing it moves the focus, which saves).
document.addEventListener("click", (event) => {
  const edit = event.target.closest('button[data-feedback-action="edit"]');
  if (!edit) return;
  const answer = edit.closest("[data-feedback-trace]");
  const content = answer.querySelector("[data-feedback-content]");
  const save = answer.querySelector("button.save");
  if (!content.isContentEditable) return;
  edit.hidden = true;
  save.hidden = false;
  content.addEventListener("focusout", () => {
    save.hidden = true;
    edit.hidden = false;
  }, { once: true });
});

// The demo's copy button: copies the answer; the widget records the click as a copy signal.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const text = button.closest("[data-feedback-trace]").querySelector("[data-feedback-content]").innerText;
  navigator.clipboard?.writeText(text).catch(() => {});
});
