"""The human status page of one export (``GET /exports/{id}``, reached by a signed link).

Server-rendered HTML with the job as it is now, then a little JavaScript that follows the
page's own event stream (the same events as ``/v1/exports/{id}/events``, each with its time):
the progress bar, the phase list with how long each took, and at the end the pull-request link,
the parity and metrics, or the error with its problems. No build step, no external asset.
"""

from __future__ import annotations

import html
import json

from gitexport.progress import PHASES

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:46rem;color:#1b1f24;padding:0 1rem}
h1{font-size:1.35rem;margin:0 0 .2rem}.muted{color:#59636e}
.bar{height:.9rem;background:#e6e9ed;border-radius:.45rem;overflow:hidden;margin:1rem 0 .3rem}
.bar>div{height:100%;background:#1f6feb;width:0;transition:width .3s}
.bar.failed>div{background:#cf222e}.bar.succeeded>div{background:#1a7f37}
ol{padding-left:1.2rem}li.done{color:#1a7f37}li.active{font-weight:600}li.todo{color:#8c959f}
.state{display:inline-block;padding:.05rem .5rem;border-radius:1rem;background:#e6e9ed}
#result,#error{margin-top:1.2rem;padding:.8rem 1rem;border-radius:.4rem}
#result{background:#dafbe1}#error{background:#ffebe9}
table{border-collapse:collapse}td,th{padding:.15rem .7rem .15rem 0;text-align:left}
"""

_SCRIPT = """
const job = JSON.parse(document.getElementById('job-data').textContent);
const phases = %(phases)s;
const times = {};
let progress = job.progress || 0;
const $ = (id) => document.getElementById(id);
function text(el, value) { el.textContent = value; return el; }
function fmt(s) { return s < 1 ? '<1 s' : (s < 60 ? s.toFixed(1) + ' s' : (s / 60).toFixed(1) + ' min'); }
function setState(state) {
  text($('state'), state); $('bar').className = 'bar ' + state; document.body.dataset.state = state;
}
function setProgress(p) {
  progress = Math.max(progress, p); $('fill').style.width = (progress * 100).toFixed(1) + '%%';
  text($('percent'), Math.round(progress * 100) + '%%');
}
function drawPhases(current, finished) {
  const list = $('phases'); list.replaceChildren();
  const idx = phases.indexOf(current);
  phases.forEach((p, i) => {
    const li = document.createElement('li');
    let label = p;
    if (times[p] !== undefined) {
      const next = phases.slice(i + 1).map((q) => times[q]).find((t) => t !== undefined);
      const end = next !== undefined ? next : (finished || null);
      if (end !== null) label += ' — ' + fmt(end - times[p]);
    }
    li.className = (finished && times[p] !== undefined) || i < idx ? 'done' : (i === idx ? 'active' : 'todo');
    list.appendChild(text(li, label));
  });
}
function showResult(r) {
  const box = $('result'); box.hidden = false; box.replaceChildren();
  const h = document.createElement('h2'); text(h, r.up_to_date ? 'Up to date' : 'Exported'); box.appendChild(h);
  const pr = r.pull_request;
  if (pr && pr.url) {
    const a = document.createElement('a'); a.id = 'pr-link'; a.href = pr.url; a.rel = 'noopener';
    text(a, 'Pull request #' + pr.number + ' (' + pr.action + ')'); box.appendChild(a);
  } else if (r.repo_url) {
    const a = document.createElement('a'); a.id = 'repo-link'; a.href = r.repo_url; a.rel = 'noopener';
    text(a, r.repo_url + (r.branch ? ' (' + r.branch + ')' : '')); box.appendChild(a);
  }
  const table = document.createElement('table');
  const row = (k, v) => { const tr = table.insertRow(); text(tr.insertCell(), k); text(tr.insertCell(), v); };
  if (r.commit) row('commit', r.commit.slice(0, 12));
  row('parity', r.parity
    ? (r.parity.description || r.parity.verdict || (r.parity.ok ? 'reproduced' : 'drift'))
    : 'not checked (the canvas sent no reference predictions)');
  const canvas = r.canvas_metrics || {};
  for (const [split, values] of Object.entries(r.metrics || {})) {
    if (!values) continue;
    for (const [name, value] of Object.entries(values)) {
      if (typeof value !== 'number') continue;  // matrices belong in the model card
      const before = (canvas[split] || {})[name];
      const was = typeof before === 'number' ? ' (canvas ' + before.toFixed(4) + ')' : '';
      row(split + ' ' + name, value.toFixed(4) + was);
    }
  }
  box.appendChild(table);
}
function showError(e) {
  const box = $('error'); box.hidden = false; box.replaceChildren();
  const h = document.createElement('h2'); text(h, 'Failed: ' + e.code); box.appendChild(h);
  box.appendChild(text(document.createElement('p'), e.message || ''));
  if (e.problems && e.problems.length) {
    const ul = document.createElement('ul'); ul.id = 'problems';
    e.problems.forEach((p) => ul.appendChild(text(document.createElement('li'), (p.where ? p.where + ': ' : '') + p.message)));
    box.appendChild(ul);
  }
}
let current = job.phase;
setState(job.state); setProgress(progress); drawPhases(current, null);
if (job.result) showResult(job.result);
if (job.error) showError(job.error);
const source = new EventSource(%(events)s);
source.addEventListener('state', (m) => { const d = JSON.parse(m.data); setState(d.data.state);
  if (['succeeded', 'failed', 'cancelled'].includes(d.data.state)) { if (d.data.state === 'succeeded') setProgress(1); drawPhases(current, d.at); } });
source.addEventListener('phase', (m) => { const d = JSON.parse(m.data); current = d.data.phase;
  if (times[current] === undefined) times[current] = d.at; setProgress(d.data.progress); drawPhases(current, null); });
source.addEventListener('log', (m) => { const d = JSON.parse(m.data); text($('message'), d.data.message); });
source.addEventListener('result', (m) => { showResult(JSON.parse(m.data).data); source.close(); });
source.addEventListener('error', (m) => { if (m.data) { showError(JSON.parse(m.data).data); } source.close(); });
"""


def render(job: dict, events_url: str, nonce: str) -> str:
    pipeline = job.get("pipeline") or {}
    name = html.escape(str(pipeline.get("name") or pipeline.get("id") or job["id"]))
    sub = html.escape(
        " · ".join(
            str(x)
            for x in (
                pipeline.get("id"),
                f"version {pipeline['version']}" if pipeline.get("version") is not None else None,
                (job.get("target") or {}).get("repo"),
            )
            if x
        )
    )
    # JSON inside <script>: "</" escaped so no value can close the element.
    data = json.dumps(job).replace("</", "<\\/")
    script = _SCRIPT % {"phases": json.dumps(list(PHASES)), "events": json.dumps(events_url)}
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Export {name}</title><style nonce="{nonce}">{_STYLE}</style></head>
<body data-state="{html.escape(job["state"])}">
<h1>{name}</h1><div class="muted">{sub}</div>
<p>State: <span id="state" class="state">{html.escape(job["state"])}</span>
<span id="percent" class="muted"></span></p>
<div id="bar" class="bar"><div id="fill"></div></div>
<div id="message" class="muted"></div>
<h2>Phases</h2><ol id="phases"></ol>
<div id="result" hidden></div><div id="error" hidden></div>
<script id="job-data" type="application/json" nonce="{nonce}">{data}</script>
<script nonce="{nonce}">{script}</script>
</body></html>
"""
