"""The review page: one self-contained HTML file, no external assets (it must work offline).

Model text is put on the page with textContent only, never as HTML: proposals are untrusted.
Each button posts one decision and shows "saved" only when the server has committed it (text
being typed into an edit is kept in the browser's localStorage until it is saved); the
page polls every 2 s so decisions by other reviewers appear without a reload.
"""

PAGE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>driftlab review</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 [hidden] { display: none !important; }
 body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 980px; padding: 0 16px 80px; color: #222; }
 header { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ddd; padding: 8px 0; z-index: 1; }
 h1 { font-size: 18px; margin: 4px 0; }
 pre { white-space: pre-wrap; word-break: break-word; background: #f6f6f6; padding: 6px 8px; margin: 4px 0; border-radius: 4px; }
 .card { border: 1px solid #ccc; border-radius: 6px; padding: 8px 12px; margin: 12px 0; }
 .card.accept { border-left: 6px solid #2a8f3a; } .card.reject { border-left: 6px solid #c0392b; }
 .card.edit { border-left: 6px solid #d08a00; }
 .label { font-size: 12px; color: #666; text-transform: uppercase; letter-spacing: .03em; margin-top: 6px; }
 .critique pre { background: #fff6e0; } .badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 12px; background: #eee; margin-left: 6px; }
 .badge.conflict { background: #fbd5d0; } .history { font-size: 12px; color: #666; }
 .saved { font-size: 12px; color: #2a8f3a; margin-left: 8px; } #error { color: #c0392b; white-space: pre-wrap; }
 textarea { width: 100%; min-height: 90px; font: 13px monospace; } button { margin-right: 6px; }
 table.signals td { padding: 0 10px 0 0; font-size: 13px; } #finished { background: #e7f5e9; padding: 6px 8px; }
</style></head>
<body>
<header>
 <h1>driftlab review: <span id="title">loading</span></h1>
 <label>reviewer <input id="reviewer" size="16"></label>
 <span id="counts"></span>
 <span id="finish-controls"></span>
 <div id="finished" hidden></div>
 <div id="error"></div>
</header>
<main id="examples"></main>
<script>
"use strict";
const $ = (sel, root) => (root || document).querySelector(sel);
let state = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") node.textContent = v; else if (k === "cls") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

// An edit being typed is kept in this browser until it is saved, so a closed tab loses no text.
function draftKey(i) { return `driftlab-draft:${state.run}:${state.round}:${i}`; }

function reviewer() { return $("#reviewer").value.trim(); }

async function api(path, body) {
  const opts = body ? {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)} : {};
  const res = await fetch(path, opts);
  const data = await res.json();
  if (!res.ok) {
    const msg = data.error || (data.detail ? JSON.stringify(data.detail) : res.statusText);
    throw new Error(msg);
  }
  return data;
}

function showError(e) { $("#error").textContent = e ? String(e.message || e) : ""; }

async function decide(example, decision, edited) {
  const card = document.getElementById("ex-" + example);
  if (!reviewer()) { showError("enter your name as reviewer first"); return; }
  $(".saved", card).textContent = "saving...";
  try {
    const d = await api("/api/decide", {example, decision, reviewer: reviewer(), edited});
    showError(null);
    $(".saved", card).textContent = "saved: " + d.decision + " by " + d.reviewer;
    if (decision === "edit") { $(".editor", card).hidden = true; localStorage.removeItem(draftKey(example)); }
    await refresh();
  } catch (e) { $(".saved", card).textContent = "not saved"; showError(e); }
}

async function finish(undecided) {
  if (!reviewer()) { showError("enter your name as reviewer first"); return; }
  try { await api("/api/finish", {reviewer: reviewer(), undecided}); showError(null); await refresh(); }
  catch (e) { showError(e); }
}

function pre(text, cls) { return el("pre", {text: text == null ? "" : String(text), cls: cls || ""}); }

function evidenceBlock(ev) {
  const box = el("div", {cls: "evidence"});
  const rows = Object.entries(ev.signals || {});
  if (rows.length) {
    const t = el("table", {cls: "signals"});
    for (const [k, v] of rows) t.append(el("tr", {}, el("td", {text: k}), el("td", {text: typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : String(v)})));
    box.append(el("div", {cls: "label", text: "loop signals"}), t);
  }
  if (ev.votes) {
    const tally = ev.votes.tally.map(([a, n]) => a + ": " + n).join(",  ");
    box.append(el("div", {cls: "label", text: "votes over " + ev.votes.samples + " samples"}), pre(tally, "votes"));
  }
  for (const n of ev.notes || []) box.append(el("div", {cls: "label", text: n.label}), pre(n.text));
  if ((ev.records || []).length) {
    const d = el("details", {}, el("summary", {text: "raw proposal records (" + ev.records.length + ")"}));
    d.append(pre(JSON.stringify(ev.records, null, 1)));
    box.append(d);
  }
  return box;
}

function card(item) {
  const i = item.example;
  const c = el("section", {cls: "card", id: "ex-" + i, "data-example": String(i), "data-kind": item.kind});
  c.append(el("div", {}, el("b", {text: "#" + i}), el("span", {cls: "badge", text: item.kind}),
                   el("span", {cls: "badge decision", text: "undecided"}),
                   el("span", {cls: "badge conflict", text: "reviewers disagree", hidden: ""})));
  if (item.context.length) {
    const d = el("details", {}, el("summary", {text: item.context.length + " earlier turns (few-shot examples)"}));
    for (const t of item.context) d.append(pre(t.role + ": " + t.content));
    c.append(d);
  }
  c.append(el("div", {cls: "label", text: "prompt"}), pre(item.prompt, "prompt"));
  c.append(el("div", {cls: "label", text: item.target_role === "chosen" ? "chosen reply (trained towards)" : "completion (trained on)"}),
           pre(item.target, "target"));
  if (item.rejected != null) c.append(el("div", {cls: "label", text: "rejected reply (trained away from)"}), pre(item.rejected));
  c.append(evidenceBlock(item.evidence));
  if (item.critique != null) {
    c.append(el("div", {cls: "critique"}, el("div", {cls: "label", text: "model critique (possible flaws; advice only)"}),
                pre(item.critique.trim() || "(the model wrote nothing)")));
  }
  const editor = el("div", {cls: "editor", hidden: ""});
  const area = el("textarea", {cls: "edit-text", oninput: () => localStorage.setItem(draftKey(i), area.value)});
  editor.append(area, el("br"), el("button", {cls: "save-edit", text: "save edit",
                                             onclick: () => decide(i, "edit", area.value)}),
                el("button", {cls: "cancel-edit", text: "cancel", onclick: () => { editor.hidden = true; localStorage.removeItem(draftKey(i)); }}));
  c.append(el("div", {cls: "actions"},
    el("button", {cls: "accept", text: "accept", onclick: () => decide(i, "accept")}),
    el("button", {cls: "reject", text: "reject", onclick: () => decide(i, "reject")}),
    el("button", {cls: "edit", text: "edit", onclick: () => {
      const d = state.decisions[i];
      area.value = localStorage.getItem(draftKey(i)) ??
                   (d && d.latest.decision === "edit" ? d.latest.edited : item.target);
      editor.hidden = false; area.focus();
    }}),
    el("span", {cls: "saved"})), editor, el("div", {cls: "history"}));
  return c;
}

function paint() {
  const counts = state.counts;
  $("#counts").textContent = `${counts.examples} examples: ${counts.accept} accepted, ${counts.edit} edited, ` +
    `${counts.reject} rejected, ${counts.undecided} undecided, ${counts.conflicts} conflicts`;
  for (const item of state.items) {
    const c = document.getElementById("ex-" + item.example);
    const d = state.decisions[item.example];
    c.classList.remove("accept", "reject", "edit");
    $(".decision", c).textContent = d ? d.latest.decision + " (" + d.latest.reviewer + ")" : "undecided";
    if (d) c.classList.add(d.latest.decision);
    $(".conflict", c).hidden = !(d && d.conflict);
    $(".history", c).textContent = d ? "history: " + d.history.map(h => `${h.reviewer} ${h.decision} at ${h.at}`).join("; ") : "";
    for (const b of c.querySelectorAll("button")) b.disabled = !!state.finished;
  }
  const fc = $("#finish-controls");
  fc.textContent = "";
  if (state.finished) {
    const f = state.finished;
    $("#finished").hidden = false;
    $("#finished").textContent = `review finished by ${f.reviewer} at ${f.at} (undecided examples: ${f.undecided}). ` +
      `Train on the result with: driftlab run --resume --out ${state.run}`;
  } else if (counts.undecided === 0) {
    fc.append(el("button", {id: "finish", text: "finish review", onclick: () => finish(null)}));
  } else {
    fc.append(el("button", {id: "finish-reject", text: `finish: drop the ${counts.undecided} undecided`, onclick: () => finish("reject")}),
              el("button", {id: "finish-accept", text: `finish: keep the ${counts.undecided} undecided`, onclick: () => finish("accept")}));
  }
}

async function refresh() {
  const d = await api("/api/decisions");
  Object.assign(state, d);
  paint();
}

async function start() {
  state = await api("/api/state");
  const fromUrl = new URLSearchParams(location.search).get("reviewer");
  $("#reviewer").value = fromUrl || localStorage.getItem("driftlab-reviewer") || state.default_reviewer;
  $("#reviewer").addEventListener("change", () => localStorage.setItem("driftlab-reviewer", reviewer()));
  $("#title").textContent = `${state.name} (${state.method}), round ${state.round}`;
  document.title = `review: ${state.name} round ${state.round}`;
  const main = $("#examples");
  for (const item of state.items) main.append(card(item));
  paint();
  document.body.dataset.ready = "1";
  setInterval(() => refresh().catch(showError), 2000);
}
start().catch(showError);
</script>
</body></html>
"""
