// htmx swaps no 4xx/5xx answer but 422 (see the htmx-config meta in base.html). Any other
// failed request (403 CSRF, 413 too large, 500, network down) is shown in the page's
// alert region instead of failing silently.
document.addEventListener("htmx:responseError", function (event) {
  var xhr = event.detail.xhr;
  showProblem("The request failed (" + xhr.status + " " + xhr.statusText + "): " + summary(xhr));
});
document.addEventListener("htmx:sendError", function () {
  showProblem("The server cannot be reached. Is it still running?");
});

function summary(xhr) {
  var type = xhr.getResponseHeader("content-type") || "";
  if (type.indexOf("text/html") === 0) {
    var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
    var problem = page.getElementById("problems");  // a designer edit's message
    if (problem && problem.textContent.trim()) return problem.textContent.trim();
    var heading = page.querySelector("main h1");
    if (heading) return heading.textContent.trim();
  }
  return "see the server log";
}

function showProblem(message) {
  var region = document.getElementById("problems");
  if (!region) return;
  region.textContent = message;
  region.hidden = false;
}
