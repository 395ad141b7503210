// Field picker of the report designer: filter the paths, insert the chosen one at the cursor
// (a table replaces the value).
// Plain event delegation on the document, so it works for fragments htmx swaps in later.
(function () {
  "use strict";

  document.addEventListener("input", function (event) {
    var filter = event.target.closest("[data-field-filter]");
    if (!filter) return;
    var picker = filter.closest("[data-field-picker]");
    var words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    picker.querySelectorAll("li[data-path]").forEach(function (item) {
      var path = item.getAttribute("data-path").toLowerCase();
      item.hidden = !words.every(function (word) { return path.indexOf(word) !== -1; });
    });
  });

  // Keep the selected node of the band tree in view (the tree pane scrolls on its own).
  // Only the pane scrolls, never the window: on a phone the panes are stacked and unbounded.
  function showSelected() {
    var pane = document.querySelector(".designer-tree-pane");
    var selected = pane && pane.querySelector('[aria-current="true"]');
    if (!selected || pane.scrollHeight <= pane.clientHeight) return;
    var box = pane.getBoundingClientRect();
    var item = selected.getBoundingClientRect();
    if (item.top < box.top) pane.scrollTop += item.top - box.top - 8;
    else if (item.bottom > box.bottom) pane.scrollTop += item.bottom - box.bottom + 8;
  }
  document.addEventListener("DOMContentLoaded", showSelected);
  document.addEventListener("htmx:afterSettle", showSelected);

  // A picker opens at the end of the property form, which may be far below its button:
  // bring it into view and put the cursor in its filter, so one can type at once.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target.id !== "field-picker") return;
    var filter = event.target.querySelector("[data-field-filter]");
    event.target.scrollIntoView({ block: "nearest" });
    if (filter) filter.focus({ preventScroll: true });
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-insert-path]");
    if (!button) return;
    var picker = button.closest("[data-field-picker]");
    var input = document.getElementById(picker.getAttribute("data-target"));
    if (!input) return;
    var text = button.getAttribute("data-insert-path");
    var whole = picker.hasAttribute("data-replace");  // a table: the pick is the value
    var at = input.selectionStart === null ? input.value.length : input.selectionStart;
    var start = whole ? 0 : at;
    var end = whole || input.selectionEnd === null ? input.value.length : input.selectionEnd;
    input.value = input.value.slice(0, start) + text + input.value.slice(end);
    input.focus();
    input.setSelectionRange(start + text.length, start + text.length);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });
})();
