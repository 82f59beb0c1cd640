// A "print" button for the result and the taper sheet (they print without it, with the browser's own command), and
// every folded "why" opened for the printout, then folded back. Loaded as a file: the CSP allows no inline script.
"use strict";
document.querySelectorAll("button[data-print]").forEach((button) => {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
});
let folded = [];
window.addEventListener("beforeprint", () => {
  folded = Array.from(document.querySelectorAll("details:not([open])"));
  folded.forEach((details) => { details.open = true; });
});
window.addEventListener("afterprint", () => folded.forEach((details) => { details.open = false; }));
