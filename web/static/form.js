// The form's only script (the page works without it): focus on the error summary, drug autocomplete into a shared
// <datalist>, and "add a line" buttons that copy the last line with the next index. Loaded as a file: the CSP allows no inline script.
"use strict";
(function () {
  // After a refused submit, focus goes to the list of problems, so that a screen reader reads it first.
  const problems = document.getElementById("error-summary");
  if (problems) problems.focus();

  const suggestions = document.getElementById("drug-suggestions");
  let pending = null;

  document.addEventListener("input", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.hasAttribute("data-drug")) return;
    const query = input.value.trim();
    clearTimeout(pending);
    if (query.length < 2) return;
    pending = setTimeout(async () => {  // wait for a pause in typing: one request per word, not per key
      const response = await fetch("/drugs/suggest?q=" + encodeURIComponent(query),
                                   { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const body = await response.json();
      suggestions.replaceChildren(...body.results.map((result) => {
        const option = document.createElement("option");
        option.value = result.name;
        option.label = result.kind;
        return option;
      }));
    }, 150);
  });

  document.querySelectorAll("button[data-add-line]").forEach((button) => {
    const container = document.getElementById(button.getAttribute("aria-controls"));
    button.hidden = false;
    button.addEventListener("click", () => {
      const lines = container.querySelectorAll("[data-line]");
      const last = lines[lines.length - 1];
      const next = lines.length;
      const copy = last.cloneNode(true);
      const renumber = (text) => text.replace(/\[\d+\]/, "[" + next + "]").replace(/-\d+-/, "-" + next + "-");
      copy.querySelectorAll(".field-error").forEach((element) => element.remove());
      copy.querySelectorAll("[name]").forEach((element) => {
        element.name = renumber(element.name);
        if (element.type === "checkbox") element.checked = false;
        else if (element.tagName === "SELECT") element.selectedIndex = 0;
        else element.value = "";
        element.removeAttribute("aria-invalid");
        element.removeAttribute("aria-describedby");
      });
      copy.querySelectorAll("[id]").forEach((element) => { element.id = renumber(element.id); });
      copy.querySelectorAll("label[for]").forEach((label) => { label.htmlFor = renumber(label.htmlFor); });
      const legend = copy.querySelector("legend");
      legend.textContent = legend.textContent.replace(/\d+\s*$/, String(next + 1));
      container.appendChild(copy);
      copy.querySelector("input").focus();
    });
  });
})();
