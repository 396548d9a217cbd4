// photoanalyze serve: an example picture chosen in the search box is sent as the request
// body (no form encoding), and the page then goes to the search by it. Errors show in
// #error, never as an alert.
"use strict";
(function () {
  const input = document.getElementById("upload");
  const error = document.getElementById("error");
  if (!input || !error) return;
  function say(text) {
    error.textContent = text;
    error.hidden = !text;
  }
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    if (!file) return;
    say("Encoding " + file.name + " ...");
    try {
      const response = await fetch("/upload", {
        method: "POST",
        body: file,
        headers: {
          "Content-Type": file.type || "application/octet-stream",
          "X-File-Name": encodeURIComponent(file.name),
          "Accept": "application/json",
        },
      });
      const answer = await response.json();
      if (!response.ok) {
        say(answer.error || "the upload was refused (" + response.status + ")");
        return;
      }
      window.location.assign(answer.search);
    } catch (problem) {
      say("the upload failed: " + problem);
    }
  });
})();
