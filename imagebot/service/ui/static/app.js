// imagebot status page: keeps the page live without a build chain.
// Polls the page's JSON (body[data-json]) with its ETag; when it changed, fetches the page again
// and swaps <main>, keeping open <details>. Renders <time> as "3 min ago" (the title keeps the
// exact time) and loads a policy's explanation when its <details> opens.
(function () {
  "use strict";
  var POLL_MS = 3000;
  var etag = null;

  function ago(date) {
    var s = Math.round((Date.now() - date.getTime()) / 1000);
    var future = s < 0; s = Math.abs(s);
    if (s < 3) return "now";
    var text = s < 60 ? s + " s" : s < 3600 ? Math.round(s / 60) + " min" : s < 86400 ? Math.round(s / 3600) + " h" : Math.round(s / 86400) + " d";
    return future ? "in " + text : text + " ago";
  }

  function times(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      if (!el.title) el.title = el.textContent;
      el.textContent = ago(d);
    });
  }

  function explain(details) {
    var url = details.getAttribute("data-explain");
    var pre = details.querySelector("pre.explain");
    if (!url || !pre || pre.dataset.loaded) return;
    pre.textContent = "loading…";
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (doc) {
        pre.textContent = doc.explanation ? doc.explanation.text : "no tags stored yet";
        pre.dataset.loaded = "1";
      })
      .catch(function () { pre.textContent = "could not load the explanation"; });
  }

  function wire(root) {
    times(root);
    root.querySelectorAll("details[data-explain]").forEach(function (d) {
      d.addEventListener("toggle", function () { if (d.open) explain(d); });
      if (d.open) explain(d);
    });
  }

  function live(state, text) {
    var el = document.getElementById("live");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  }

  function swap() {
    return fetch(location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        var main = document.getElementById("main");
        if (!fresh || !main) return;
        var open = {};
        main.querySelectorAll("details[open][id]").forEach(function (d) { open[d.id] = d.querySelector("pre.explain"); });
        fresh = document.importNode(fresh, true);
        fresh.querySelectorAll("details[id]").forEach(function (d) {
          if (open.hasOwnProperty(d.id)) {
            d.open = true;
            var old = open[d.id], pre = d.querySelector("pre.explain");
            if (old && pre && old.dataset.loaded) { pre.textContent = old.textContent; pre.dataset.loaded = "1"; }
          }
        });
        main.replaceWith(fresh);
        wire(fresh);
      });
  }

  function poll() {
    var url = document.body.getAttribute("data-json");
    if (!url || document.hidden) return;
    var headers = { Accept: "application/json" };
    if (etag) headers["If-None-Match"] = etag;
    fetch(url, { headers: headers, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 304) return null;
        if (!r.ok) return Promise.reject(r.status);
        etag = r.headers.get("ETag");
        return swap();
      })
      .then(function () { live("live", "live: updated " + new Date().toLocaleTimeString()); })
      .catch(function () { live("offline", "the service does not answer; retrying"); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    wire(document);
    etag = document.body.getAttribute("data-etag") || null;
    if (document.body.getAttribute("data-json")) {
      poll();
      setInterval(poll, POLL_MS);
      setInterval(function () { times(document); }, 15000);
      document.addEventListener("visibilitychange", poll);
    }
  });
})();
