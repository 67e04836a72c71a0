"""The reader's page: one self-contained HTML file (no network), one tumor at a time.

The page holds the study id, the item ids and the images, nothing else about an item. The
reader marks each item real or synthetic with a confidence of 1-5, by mouse or keyboard;
answers are kept in the browser's local storage under the reader's name (after a reload,
the same name brings them back) and downloaded as
JSON: {format, reader, study_id, answers: [{item, call, confidence}], ...}.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from string import Template

ANSWERS_FORMAT = "robustbench-liver/turing-answers/v1"
CALLS = ("real", "synthetic")

_STYLE = """
body{background:#111;color:#ddd;font:16px/1.45 system-ui,sans-serif;margin:0}
main{max-width:760px;margin:0 auto;padding:1rem}
h1{font-size:1.3rem;margin:.2rem 0 .8rem}
button{font:inherit;background:#2a2a2a;color:#eee;border:1px solid #555;border-radius:6px;
padding:.45rem .9rem;cursor:pointer}
button:focus-visible,input:focus-visible{outline:3px solid #7ab7ff;outline-offset:2px}
button[aria-pressed=true]{background:#2f5d8a;border-color:#7ab7ff}
button:disabled{opacity:.45;cursor:default}
input{font:inherit;padding:.4rem;border-radius:6px;border:1px solid #555;background:#222;color:#eee}
.row{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap;margin:.6rem 0}
.label{min-width:7.5rem;color:#aaa}
#crop{display:block;width:min(512px,92vw);height:auto;aspect-ratio:1;background:#000;
margin:.6rem auto;image-rendering:auto}
progress{width:100%;height:.6rem}
#strip button{min-width:2.4rem;padding:.2rem .3rem;font-size:.8rem}
#strip button.done{background:#234a2f;border-color:#4c9a62}
#strip button.current{outline:2px solid #7ab7ff}
kbd{background:#333;border:1px solid #555;border-radius:4px;padding:0 .3rem;font-size:.85em}
.muted{color:#999;font-size:.9rem}
#status{min-height:1.4em}
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("study-data").textContent);
  var items = data.items, n = items.length, prefix = "rbl-turing-" + data.study_id;
  // answers are stored per reader name, and the name is never filled in: on a shared
  // computer no reader sees another's calls; after a reload, the same name brings them back
  var state = {reader: "", pos: 0, answers: {}};
  var el = function (id) { return document.getElementById(id); };
  var calls = ["real", "synthetic"];

  function stored(key) {
    try { return localStorage.getItem(key); } catch (e) { return null; }  // no storage: fine
  }
  function save() {
    try {
      localStorage.setItem(prefix + "-reader-" + state.reader, JSON.stringify(state));
    } catch (e) { /* answers then live in this page only */ }
  }
  function complete(a) { return a && calls.indexOf(a.call) >= 0 && a.confidence >= 1; }
  function answered() {
    var k = 0; items.forEach(function (it) { if (complete(state.answers[it.id])) { k++; } });
    return k;
  }
  function buildStrip() {
    var strip = el("strip");
    items.forEach(function (it, i) {
      var b = document.createElement("button");
      b.type = "button"; b.textContent = String(i + 1);
      b.setAttribute("aria-label", "go to image " + (i + 1));
      b.addEventListener("click", function () { go(i); });
      strip.appendChild(b);
    });
  }
  function show() {
    var it = items[state.pos], a = state.answers[it.id] || {};
    el("crop").src = it.image;
    el("crop").alt = "image " + (state.pos + 1) + " of " + n;
    el("pos").textContent = String(state.pos + 1);
    var done = answered();
    el("done").textContent = String(done);
    el("bar").value = done;
    calls.forEach(function (c) {
      el("call-" + c).setAttribute("aria-pressed", String(a.call === c));
    });
    for (var k = 1; k <= 5; k++) {
      el("conf-" + k).setAttribute("aria-pressed", String(a.confidence === k));
    }
    el("prev").disabled = state.pos === 0;
    el("next").textContent = state.pos === n - 1 ? "Finish" : "Next \u2192";
    Array.prototype.forEach.call(el("strip").children, function (b, i) {
      b.className = (complete(state.answers[items[i].id]) ? "done" : "") +
        (i === state.pos ? " current" : "");
    });
    el("status").textContent = "";
  }
  function set(field, value) {
    var id = items[state.pos].id, a = state.answers[id] || {};
    a[field] = value; state.answers[id] = a; save(); show();
  }
  function go(i) { state.pos = Math.max(0, Math.min(n - 1, i)); save(); show(); }
  function next() {
    if (!complete(state.answers[items[state.pos].id])) {
      el("status").textContent = "Choose real or synthetic and a confidence first."; return;
    }
    if (state.pos < n - 1) { go(state.pos + 1); return; }
    var left = n - answered();
    el("status").textContent = left ? left + " image(s) still unanswered." :
      "All " + n + " answered. Download your answers.";
    el("download").focus();
  }
  function download() {
    var out = [];
    items.forEach(function (it) {
      var a = state.answers[it.id];
      if (complete(a)) { out.push({item: it.id, call: a.call, confidence: a.confidence}); }
    });
    var doc = {format: data.answers_format, reader: state.reader, study_id: data.study_id,
               answers: out, unanswered: n - out.length, saved_at: new Date().toISOString()};
    var blob = new Blob([JSON.stringify(doc, null, 1)], {type: "application/json"});
    var link = document.createElement("a");
    var safe = state.reader.replace(/[^A-Za-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "") || "reader";
    link.href = URL.createObjectURL(blob);
    link.download = "answers-" + safe + "-" + data.study_id + ".json";
    document.body.appendChild(link); link.click(); link.remove();
    el("status").textContent = out.length < n ?
      "Saved " + out.length + " of " + n + " answers (" + (n - out.length) + " unanswered)." :
      "Saved all " + n + " answers.";
  }
  function start() {
    var name = el("reader").value.trim();
    if (!name) { el("start-status").textContent = "Please enter your name or initials."; return; }
    var saved = null;
    try { saved = JSON.parse(stored(prefix + "-reader-" + name) || "null"); } catch (e) {}
    state = saved && saved.answers ? saved : {reader: name, pos: 0, answers: {}};
    state.reader = name; save();
    el("start").hidden = true; el("study").hidden = false; show(); el("call-real").focus();
  }

  el("total").textContent = String(n);
  el("bar").max = n;
  buildStrip();
  el("begin").addEventListener("click", start);
  el("reader").addEventListener("keydown", function (e) { if (e.key === "Enter") { start(); } });
  calls.forEach(function (c) {
    el("call-" + c).addEventListener("click", function () { set("call", c); });
  });
  for (var k = 1; k <= 5; k++) {
    (function (v) {
      el("conf-" + v).addEventListener("click", function () { set("confidence", v); });
    })(k);
  }
  el("prev").addEventListener("click", function () { go(state.pos - 1); });
  el("next").addEventListener("click", next);
  el("download").addEventListener("click", download);
  document.addEventListener("keydown", function (e) {
    if (el("study").hidden || e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (e.target && e.target.tagName === "INPUT") { return; }
    var key = e.key.toLowerCase();
    if (key === "r") { set("call", "real"); }
    else if (key === "s") { set("call", "synthetic"); }
    else if (key >= "1" && key <= "5" && key.length === 1) { set("confidence", Number(key)); }
    else if (key === "enter") {
      var t = e.target;  // Enter on Back, Next, Download or the strip: their own click
      if (t && t.tagName === "BUTTON" && !/^(call|conf)-/.test(t.id)) { return; }
      next();
    }
    else if (key === "arrowright" || key === "n") { next(); }
    else if (key === "arrowleft" || key === "p") { go(state.pos - 1); }
    else { return; }
    e.preventDefault();
  });
})();
"""

_PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta http-equiv="Content-Security-Policy" content="$csp">
<title>Reader study</title>
<style>$style</style>
</head>
<body>
<main>
<h1>Reader study: real or synthetic liver tumor?</h1>
<p class="muted">Study <code>$study_id</code> &middot; <span id="total"></span> images</p>
<section id="start">
<p>Each image is an axial CT crop centred on a liver tumor. Some tumors are real, others were
synthesized into healthy livers. For each image, say whether you think the tumor is
<b>real</b> or <b>synthetic</b>, and how sure you are (1 = a guess, 5 = certain).</p>
<p>$settings</p>
<p>Keys: <kbd>R</kbd> real, <kbd>S</kbd> synthetic, <kbd>1</kbd>&ndash;<kbd>5</kbd> confidence,
<kbd>&rarr;</kbd> or <kbd>Enter</kbd> next, <kbd>&larr;</kbd> back. Your answers stay in this
browser until you download them; when done, press <b>Download answers</b> and send the file
to the study organiser.</p>
<div class="row"><label for="reader">Your name or initials</label>
<input id="reader" autocomplete="off" autofocus>
<button type="button" id="begin">Start</button></div>
<p id="start-status" role="status"></p>
</section>
<section id="study" hidden>
<div class="row"><span>Image <b id="pos">1</b> of $count</span>
<span class="muted">&middot; answered <span id="done">0</span></span></div>
<progress id="bar" value="0" max="$count"></progress>
<img id="crop" alt="" width="$pixels" height="$pixels">
<div class="row" role="group" aria-label="real or synthetic"><span class="label">The tumor is</span>
<button type="button" id="call-real" aria-pressed="false">Real (<kbd>R</kbd>)</button>
<button type="button" id="call-synthetic" aria-pressed="false">Synthetic (<kbd>S</kbd>)</button>
</div>
<div class="row" role="group" aria-label="confidence"><span class="label">Confidence</span>
$confidence</div>
<div class="row"><button type="button" id="prev">&larr; Back</button>
<button type="button" id="next">Next &rarr;</button>
<button type="button" id="download">Download answers</button></div>
<p id="status" role="status" aria-live="polite"></p>
<div id="strip" class="row" aria-label="all images"></div>
</section>
</main>
<script type="application/json" id="study-data">$data</script>
<script>$script</script>
</body>
</html>
"""
)

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
"""No network at all: the page loads nothing and sends nothing."""
_CONFIDENCE = ("a guess", "leaning", "fairly sure", "sure", "certain")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render(study_id: str, items: Sequence[tuple[str, bytes]], pixels: int, settings: str) -> str:
    """The page for `items` ((id, PNG bytes) in display order); `settings` says in one
    sentence how every image was made (the same for all, so it gives nothing away)."""
    payload = {
        "study_id": study_id,
        "answers_format": ANSWERS_FORMAT,
        "items": [{"id": item, "image": data_uri(png)} for item, png in items],
    }
    # "</" cannot end the script element early, whatever a string holds
    data = json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")
    confidence = "\n".join(
        f'<button type="button" id="conf-{k}" aria-pressed="false" title="{label}">'
        f'{k} <span class="muted">{label}</span></button>'
        for k, label in enumerate(_CONFIDENCE, start=1)
    )
    return _PAGE.substitute(
        csp=CSP,
        style=_STYLE,
        study_id=html.escape(study_id),
        settings=html.escape(settings),
        count=len(items),
        pixels=pixels,
        confidence=confidence,
        data=data,
        script=_SCRIPT,
    )
