// Field picker of the report designer: filter the paths, insert the chosen one at the cursor.
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

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-insert-path]");
    if (!button) return;
    var picker = button.closest("[data-field-picker]");
    var input = document.getElementById(picker.getAttribute("data-target"));
    if (!input) return;
    var text = button.getAttribute("data-insert-path");
    var start = input.selectionStart === null ? input.value.length : input.selectionStart;
    var end = input.selectionEnd === null ? input.value.length : input.selectionEnd;
    input.value = input.value.slice(0, start) + text + input.value.slice(end);
    input.focus();
    input.setSelectionRange(start + text.length, start + text.length);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });
})();
