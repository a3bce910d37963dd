// The dashboard's own script: small conveniences over htmx. No inline script anywhere
// (the page's Content-Security-Policy allows only these files).
"use strict";

document.addEventListener("change", (event) => {
  // A "select all" box checks every row box of its table (data-select-all="name"), or of
  // the nearer element marked data-select-scope (a payments line and its posts).
  const all = event.target.closest("[data-select-all]");
  if (!all) return;
  const name = all.getAttribute("data-select-all");
  const scope = all.closest("[data-select-scope], form, table") || document;
  for (const box of scope.querySelectorAll(`input[type=checkbox][name="${name}"]`)) {
    box.checked = all.checked;
  }
});

document.addEventListener("keydown", (event) => {
  // Escape closes an open menu.
  if (event.key !== "Escape") return;
  for (const open of document.querySelectorAll("details.menu[open]")) open.open = false;
});

// A payments line's posts load when the line is opened (details[data-lazy], htmx on
// "toggle once"). Selecting the line opens it, so its posts load; once they are in, they
// take the line box's state.
document.addEventListener("change", (event) => {
  const all = event.target.closest("[data-select-all]");
  const scope = all && all.closest("[data-select-scope]");
  const lazy = scope && scope.querySelector("details[data-lazy]");
  if (lazy && all.checked && !lazy.open) lazy.open = true;
});

// A batch of the selected posts waits while a line's posts are still loading: sent before
// they arrive, it would leave out the posts of a line that was ticked.
let linesLoading = 0;
function holdSelectedBatch(change) {
  linesLoading = Math.max(0, linesLoading + change);
  const button = document.querySelector('#new-batch button[value="selected"]');
  if (button) button.disabled = linesLoading > 0;
}
document.addEventListener("htmx:beforeRequest", (event) => {
  if (event.target.matches("details[data-lazy]")) holdSelectedBatch(1);
});
document.addEventListener("htmx:afterRequest", (event) => {
  if (event.target.matches("details[data-lazy]")) holdSelectedBatch(-1);
});

document.addEventListener("htmx:afterSwap", (event) => {
  const scope = event.target.closest("[data-select-scope]");
  const all = scope && scope.querySelector("[data-select-all]");
  if (!all) return;
  const name = all.getAttribute("data-select-all");
  for (const box of scope.querySelectorAll(`input[type=checkbox][name="${name}"]`)) {
    box.checked = all.checked;
  }
});
