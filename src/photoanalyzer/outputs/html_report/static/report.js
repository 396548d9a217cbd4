// photoanalyze report: keyboard moves between near-duplicate groups, and a button copies a
// group's non-picks' paths. Nothing here deletes or moves a file.
(function () {
  "use strict";
  var groups = Array.prototype.slice.call(document.querySelectorAll(".group"));
  var current = -1;

  function show(index) {
    if (!groups.length) return;
    current = Math.max(0, Math.min(groups.length - 1, index));
    groups[current].focus();
    groups[current].scrollIntoView({ block: "start" });
  }

  function copy(button) {
    var text = JSON.parse(button.getAttribute("data-paths")).join("\n");
    var status = button.nextElementSibling;
    function done(ok) {
      var n = text.split("\n").length;
      status.textContent = ok ? "copied " + n + (n === 1 ? " path" : " paths") : "copy failed: select the paths above";
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(fallback(text)); });
    } else {
      done(fallback(text));
    }
  }

  // Where the clipboard API is refused (some browsers on file:// pages).
  function fallback(text) {
    var area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.copy") : null;
    if (button) copy(button);
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || !groups.length) return;
    var inGroup = groups.indexOf(document.activeElement.closest ? document.activeElement.closest(".group") : null);
    if (inGroup >= 0) current = inGroup;
    if (event.key === "j" || event.key === "n") { show(current + 1); event.preventDefault(); }
    else if (event.key === "k" || event.key === "p") { show(current - 1); event.preventDefault(); }
    else if (event.key === "c" && current >= 0) { copy(groups[current].querySelector("button.copy")); }
  });
})();
