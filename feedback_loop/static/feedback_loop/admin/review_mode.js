// Review mode's keyboard: 1-9 toggle error modes, c confirm, x dismiss, j skip, k previous,
// d add to the dataset, Ctrl+Enter confirm from a text box.
"use strict";
document.addEventListener("keydown", (event) => {
  const form = document.getElementById("fl-review-form");
  if (!form || event.altKey || event.metaKey) return;
  const typing = /^(TEXTAREA|INPUT|SELECT)$/.test(event.target.tagName) && event.target.type !== "checkbox";
  const click = (id) => { const el = document.getElementById(id); if (el) { event.preventDefault(); el.click(); } };
  if (typing) {
    if (event.ctrlKey && event.key === "Enter") click("fl-confirm");
    return;
  }
  if (event.ctrlKey) return;
  if (/^[1-9]$/.test(event.key)) {
    const box = form.querySelectorAll(".fl-modes input[type=checkbox]")[Number(event.key) - 1];
    if (box) { event.preventDefault(); box.checked = !box.checked; }
    return;
  }
  const keys = { c: "fl-confirm", x: "fl-dismiss", j: "fl-skip", n: "fl-skip", k: "fl-previous", p: "fl-previous", d: "fl-add-dataset" };
  if (keys[event.key]) click(keys[event.key]);
});
