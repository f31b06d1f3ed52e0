// The demo's copy button: copies the answer; the widget records the click as a copy signal.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const text = button.closest("[data-feedback-trace]").querySelector("[data-feedback-content]").innerText;
  navigator.clipboard?.writeText(text).catch(() => {});
});
