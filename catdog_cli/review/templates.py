"""The HTML of the review page and the static report: Jinja2 with autoescaping, no build step.

Keys are whatever the uploader chose, markup and escape sequences included, and labels and
versions come from manifests and table items that anyone with write access could craft. So every
value reaches the page through autoescaping and `text` (`display.printable`: control, bidi and
zero-width characters show as visible escapes instead of turning text around or hiding in it),
keys, labels, versions and names alike; the labels reach the script as `tojson` (which escapes
`<`, `>`, `&` and every non-ASCII character); the raw key rides in a percent-encoded data
attribute, and so does a label button's (no control character ever reaches the document); and
the script only ever sets `textContent`. The page's script and style carry a per-response nonce
that the Content-Security-Policy requires; the report has no script at all.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

from catdog.results import UNKNOWN_LABEL
from catdog_cli.display import percent, printable

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 1rem 2rem; color: #222; background: #fafafa; }
header { position: sticky; top: 0; background: #fafafa; padding: .5rem 0; border-bottom: 1px solid #ddd; z-index: 1; }
h1 { font-size: 1.2rem; margin: .2rem 0; } h2 { font-size: 1.05rem; margin: .8rem 0 .4rem; }
.meta { color: #666; font-size: .85rem; }
nav.views a, nav.views span { margin-right: .8rem; white-space: nowrap; }
nav.views a.current { font-weight: bold; text-decoration: none; color: #000; }
.error { background: #fde8e8; border: 1px solid #e99; padding: .5rem; }
.warning { background: #fff6db; border: 1px solid #e8c96b; padding: .3rem .5rem; font-size: .85rem; }
table.numbers { border-collapse: collapse; font-size: .85rem; margin: .3rem 0; }
table.numbers td, table.numbers th { border: 1px solid #ddd; padding: .15rem .5rem; text-align: right; }
table.numbers th:first-child, table.numbers td:first-child { text-align: left; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(180px, 1fr)); gap: .6rem; }
.tile { margin: 0; padding: .4rem; background: #fff; border: 2px solid #e5e5e5; border-radius: 6px; font-size: .8rem; }
.tile:focus { outline: none; border-color: #2a6fdb; box-shadow: 0 0 0 3px #2a6fdb55; }
.tile.reviewed { border-color: #3a3; } .tile.refused { border-color: #c33; }
.tile img { display: block; margin: 0 auto .3rem; max-width: 160px; max-height: 160px; }
.key { font-family: monospace; overflow-wrap: anywhere; }
.label b { font-size: .95rem; } .badge { background: #3a3; color: #fff; border-radius: 3px; padding: 0 .3rem; }
.shadow { color: #555; } .shadow.differs { color: #8a4b00; font-weight: bold; }
.failed { color: #a22; } .msg { min-height: 1em; color: #a22; } .tile.reviewed .msg { color: #272; }
.buttons button { font-size: .75rem; margin: .1rem; }
form.inline { display: inline; }
.bar { display: inline-block; background: #2a6fdb; height: .7rem; vertical-align: middle; }
"""

SCRIPT = """
(() => {
  const token = document.querySelector('meta[name="catdog-token"]').content;
  const labels = JSON.parse(document.getElementById('labels').textContent);
  const tiles = Array.from(document.querySelectorAll('.tile'));
  const focusTile = (i) => { if (tiles[i]) { tiles[i].focus(); } };
  async function review(tile, label) {
    const msg = tile.querySelector('.msg');
    msg.textContent = 'saving…';
    let response, body = {};
    try {
      response = await fetch('review', {method: 'POST', headers: {'Content-Type': 'application/json',
        'X-Catdog-Token': token}, body: JSON.stringify({image: decodeURIComponent(tile.dataset.image), etag: tile.dataset.etag,
        label: label})});
      body = await response.json();
    } catch (err) {
      tile.classList.add('refused');
      msg.textContent = 'not saved: ' + err;
      return false;
    }
    if (!response.ok) {
      tile.classList.add('refused');
      msg.textContent = body.error || ('not saved (HTTP ' + response.status + ')');
      return false;
    }
    tile.classList.remove('refused');
    tile.classList.add('reviewed');
    tile.querySelector('.label b').textContent = body.shown;
    msg.textContent = 'saved: ' + body.shown;
    refreshSoon();
    return true;
  }
  // The header's counts and the accuracy table, re-read once the saves pause (each is a recount).
  let refreshTimer = null;
  function refreshSoon() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refreshNumbers, 700);
  }
  async function refreshNumbers() {
    let numbers;
    try {
      const response = await fetch('stats' + location.search);
      if (!response.ok) { return; }
      numbers = await response.json();
    } catch (err) { return; }
    const links = new Map(Array.from(document.querySelectorAll('a[data-count]'), (a) => [a.dataset.count, a]));
    for (const [href, n] of numbers.counts) {
      const link = links.get(href);
      if (link) { link.querySelector('.n').textContent = String(n); }
    }
    const table = document.querySelector('table.accuracy');
    if (!table) { return; }
    for (const row of Array.from(table.querySelectorAll('tr')).slice(1)) { row.remove(); }
    const body = table.tBodies[0] || table;
    if (numbers.accuracy.length === 0) {
      const cell = document.createElement('td');
      cell.colSpan = 5;
      cell.textContent = 'no reviewed images yet';
      body.appendChild(document.createElement('tr')).appendChild(cell);
    }
    for (const r of numbers.accuracy) {
      const row = document.createElement('tr');
      for (const value of [r.version + (r.live ? ' (live)' : ''), r.reviewed, r.agreed, r.accuracy, r.excluded]) {
        row.appendChild(document.createElement('td')).textContent = String(value);
      }
      body.appendChild(row);
    }
  }
  document.addEventListener('keydown', (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    const tile = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest('.tile') : null;
    const i = tiles.indexOf(tile);
    if (event.key === 'ArrowRight' || event.key === 'ArrowDown' || event.key === 'j') {
      focusTile(i + 1); event.preventDefault();
    } else if (event.key === 'ArrowLeft' || event.key === 'ArrowUp' || event.key === 'k') {
      focusTile(Math.max(0, i - 1)); event.preventDefault();
    } else if (tile && event.key === 's') {
      focusTile(i + 1);
    } else if (tile && /^[0-9]$/.test(event.key) && tile.dataset.reviewable === '1') {
      const n = Number(event.key);
      const label = n === 0 ? 'unknown' : labels[n - 1];
      if (label) {
        event.preventDefault();
        review(tile, label).then((saved) => { if (saved) { focusTile(i + 1); } });
      }
    }
  });
  for (const button of document.querySelectorAll('.tile button[data-label]')) {
    button.addEventListener('click', () => review(button.closest('.tile'), decodeURIComponent(button.dataset.label)));
  }
  focusTile(0);
})();
"""

TILE = """
{% macro tile(item, thumb, labels, read_only) -%}
<figure class="tile{% if item.get('human_label') %} reviewed{% endif %}" tabindex="0" data-image="{{ item.image|urlencode }}"
  data-etag="{{ item.get('etag') or '' }}" data-reviewable="{{ '1' if reviewable(item) and labels and not read_only else '0' }}">
  <img src="{{ thumb }}" alt="thumbnail of {{ key(item) }}" loading="lazy">
  <figcaption>
    <div class="key">{{ key(item) }}</div>
    {% if item.get('status') == 'classified' %}
    <div class="label">label <b>{{ shown(item.get('label')) }}</b>
      {% if item.get('human_label') %}<span class="badge" title="by {{ text(item.get('reviewed_by')) }} at {{ text(item.get('reviewed_at')) }}">reviewed</span>{% endif %}</div>
    {% if item.get('model_label') == 'unknown' %}{% set like, p = resembled(item) %}
    <div class="model">model: <b>unknown</b> (none of its labels){% if like %}, looks most like {{ text(like) }} {{ percent(p) }}{% endif %} · {{ text(item.get('model_version')) }}</div>
    {% else %}
    <div class="model">model: {{ shown(item.get('model_label')) }} {{ percent(item.get('confidence')) }} · {{ text(item.get('model_version')) }}</div>
    {% endif %}
    {% if item.get('shadow_label') %}
    <div class="shadow{% if item.get('shadow_label') != item.get('model_label') %} differs{% endif %}">shadow: {{ shown(item.get('shadow_label')) }} {{ percent(item.get('shadow_confidence')) }} · {{ text(item.get('shadow_version')) }}</div>
    {% endif %}
    {% else %}
    <div class="failed">{{ text(item.get('status')) }}: {{ text(item.get('reason')) }} {{ text(item.get('error')) }}</div>
    {% endif %}
    {% if reviewable(item) and labels and not read_only %}
    <div class="buttons">{% for label in labels %}<button type="button" data-label="{{ label|urlencode }}">{{ loop.index }} {{ text(label) }}</button>{% endfor %}<button type="button" data-label="unknown" title="none of the labels">0 unknown</button></div>
    {% endif %}
    <div class="msg" role="status"></div>
  </figcaption>
</figure>
{%- endmacro %}
"""

NUMBERS = """
{% macro accuracy_table(accuracy, live) -%}
<table class="numbers accuracy"><tr><th>model version</th><th>reviewed</th><th>agreed</th><th>accuracy on reviewed</th>
<th title="reviewed photos the version was trained on: a model agrees with what it learned, so they are not counted">excluded (trained on)</th></tr>
{% for row in accuracy %}<tr data-version="{{ row.version|urlencode }}"><td>{{ text(row.version) }}{% if live and row.version == live.version %} (live){% endif %}</td>
<td>{{ row.reviewed }}</td><td>{{ row.agreed }}</td><td>{{ percent(row.accuracy) }}</td><td>{{ row.excluded }}</td></tr>
{% else %}<tr><td colspan="5">no reviewed images yet</td></tr>{% endfor %}
</table>
{%- endmacro %}
"""

PAGE = """{% from "tile" import tile %}{% from "numbers" import accuracy_table %}<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="catdog-token" content="{{ token }}">
<title>catdog review: {{ text(view.title()) }}</title>
<style nonce="{{ nonce }}">{{ style }}</style></head>
<body>
<header>
  <h1>catdog review</h1>
  <div class="meta">table {{ text(table) }} · bucket {{ text(bucket) }} · live model {{ text(live.version) if live else "none published" }}
    · keys: {% for label in labels %}{{ loop.index }} {{ text(label) }}, {% endfor %}0 unknown (none of them), s skip, ←/→ move</div>
  {% if counts %}
  <nav class="views">
    {% for v, title, n in links %}<a href="{{ v }}" data-count="{{ v }}"{% if title == current %} class="current"{% endif %}>{{ text(title) }} (<span class="n">{{ n }}</span>)</a>{% endfor %}
    <form method="get" class="inline"><input type="hidden" name="view" value="low">
      <label>low confidence below <input name="threshold" size="4" value="{{ '%g' % view.threshold }}"></label>
      <button type="submit">show</button></form>
  </nav>
  <nav class="views">{% for v, title in version_links %}<a href="{{ v }}"{% if title == current %} class="current"{% endif %}>{{ text(title) }}</a>{% endfor %}</nav>
  {{ accuracy_table(accuracy, live) }}
  {% endif %}
</header>
<main>
  {% if error %}<p class="error" role="alert">{{ text(error) }}</p>{% endif %}
  {% for warning in warnings %}<p class="warning">{{ text(warning) }}</p>{% endfor %}
  <h2>{{ text(view.title()) }}{% if items %}: {{ items|length }} on this page, newest first{% endif %}</h2>
  {% if not labels and live %}<p class="error">The live model's manifest cannot be used (see above), so there are no labels to review with.</p>
  {% elif not labels %}<p class="error">No model is live (no models/latest.json in s3://{{ text(bucket) }}/), so there are no labels to review with.</p>{% endif %}
  <section class="grid">
  {% for item in items %}{{ tile(item, thumb_url(item), labels, false) }}{% else %}<p>Nothing to show in this view.</p>{% endfor %}
  </section>
  <nav class="pager"><a href="{{ first_url }}">first page</a>{% if next_url %} · <a href="{{ next_url }}" rel="next">next page</a>{% endif %}</nav>
</main>
<script type="application/json" id="labels">{{ labels|tojson }}</script>
<script nonce="{{ nonce }}">{{ script }}</script>
</body></html>
"""

REPORT = """{% from "tile" import tile %}{% from "numbers" import accuracy_table %}<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>catdog report: {{ text(table) }}</title>
<style>{{ style }}</style></head>
<body>
<header>
  <h1>catdog report</h1>
  <div class="meta">table {{ text(table) }} · bucket {{ text(bucket) }} · live model {{ text(live.version) if live else "none published" }}
    · made {{ made_at }} · read-only</div>
</header>
<main>
  {% for warning in warnings %}<p class="warning">{{ text(warning) }}</p>{% endfor %}
  <h2>Summary</h2>
  <table class="numbers counts"><tr><th>what</th><th>images</th></tr>
    <tr><td>all (classified + failed)</td><td>{{ counts.total }}</td></tr>
    {% for label, n in counts.per_label.items() %}<tr><td>label {{ text(label) }}</td><td>{{ n }}</td></tr>{% endfor %}
    <tr><td>unknown</td><td>{{ counts.unknown }}</td></tr>
    <tr><td>failed</td><td>{{ counts.failed }}</td></tr>
    <tr><td>confidence below {{ '%g' % counts.threshold }}</td><td>{{ counts.low }}</td></tr>
    <tr><td>reviewed</td><td>{{ counts.reviewed }}</td></tr>
  </table>
  <h2>Confidence per model label</h2>
  <table class="numbers histogram"><tr><th>model label</th>{% for edge in edges %}<th>{{ edge }}</th>{% endfor %}</tr>
  {% for label, row in histograms.items() %}<tr><td>{{ text(label) }}</td>{% for n in row %}<td title="{{ n }}">{{ n }}<br><span class="bar" style="width: {{ (40 * n / (row|max or 1))|round(1) }}px"></span></td>{% endfor %}</tr>
  {% else %}<tr><td colspan="{{ edges|length + 1 }}">no classified images</td></tr>{% endfor %}
  </table>
  <h2>Reviewed accuracy per model version</h2>
  {{ accuracy_table(accuracy, live) }}
  {% if shadow %}{% set c = shadow.comparison %}
  <h2>Live vs shadow: {{ text(c.version) }}</h2>
  <p class="meta">The shadow model answers every upload beside the live model without its answers being used (catdog models shadow); counted over the {{ c.shadowed }} uploads it answered.</p>
  <table class="numbers shadow-comparison"><tr><th>what</th><th>live {{ text(c.live_label) }}</th><th>shadow {{ text(c.version) }}</th></tr>
    <tr><td>uploads answered by both</td><td colspan="2">{{ c.shadowed }}</td></tr>
    <tr><td>same label</td><td colspan="2">{{ c.agreed }} ({{ percent(c.agreement) }})</td></tr>
    <tr><td>reviewed, answered by both</td><td colspan="2">{{ c.reviewed }}{% if c.excluded %} ({{ c.excluded }} more left out: a model was trained on them){% endif %}</td></tr>
    <tr><td>right on those</td><td>{{ c.live_right }} ({{ percent(c.live_accuracy) }})</td><td>{{ c.shadow_right }} ({{ percent(c.shadow_accuracy) }})</td></tr>
  </table>
  <table class="numbers shadow-changes"><tr><th>label change, live → shadow</th><th>images</th></tr>
  {% for change, n in shadow.changes %}<tr><td>{{ text(change[0]) }} → {{ text(change[1]) }}</td><td>{{ n }}</td></tr>
  {% else %}<tr><td colspan="2">none: the shadow model gave every live label</td></tr>{% endfor %}
  </table>
  <p class="verdict">Verdict: <code>catdog models promote {{ text(c.version) }} --require-shadow {{ shadow.require }}</code>
  {% if shadow.failures %}would be refused: {% for why in shadow.failures %}{{ text(why) }}{% if not loop.last %}; {% endif %}{% endfor %}.
  {% else %}would pass (validation accuracy ≥ {{ '%g' % shadow.min_accuracy }}, ≥ {{ shadow.require }} shadowed, no drop in reviewed accuracy).{% endif %}</p>
  {% endif %}
  <h2>The {{ items|length }} newest images{% if more %} (of {{ counts.total }}){% endif %}</h2>
  <section class="grid">
  {% for item, thumb in tiles %}{{ tile(item, thumb, [], true) }}{% else %}<p>No images.</p>{% endfor %}
  </section>
</main>
</body></html>
"""


def shown_label(label: Any) -> str:
    """A label as shown: one word per stored value, whoever gave it (`unknown` is `unknown` whether
    the model answered it or a person pressed 0)."""
    if label is None:
        return "—"
    return printable(label)


def resembled(item: dict[str, Any]) -> tuple[str | None, float | None]:
    """For an `unknown` answer: the trained label the photo looked most like, and its probability
    (`top_label`, else the highest score). The item's `confidence` is that probability, which is why
    it must never be shown as if it were the confidence in `unknown`."""
    scores = {str(k): float(v) for k, v in (item.get("scores") or {}).items() if k != UNKNOWN_LABEL}
    top = item.get("top_label")
    if not top or top == UNKNOWN_LABEL:
        top = max(scores, key=lambda k: scores[k]) if scores else None
    if top is None:
        return None, None
    p = scores.get(str(top), item.get("confidence"))
    return str(top), None if p is None else float(p)


def shown_key(item: dict[str, Any]) -> str:
    """The object key of an item (its `s3://bucket/` prefix dropped), terminal- and bidi-safe."""
    image = str(item.get("image", ""))
    return printable(image.split("/", 3)[3] if image.startswith("s3://") and image.count("/") >= 3 else image)



def text(value: Any) -> str:
    return "" if value is None else printable(value)


def reviewable(item: dict[str, Any]) -> bool:
    return item.get("status") == "classified" and bool(item.get("etag"))


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.DictLoader({"tile": TILE, "numbers": NUMBERS, "page": PAGE,
                                                       "report": REPORT}),
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.globals.update(shown=shown_label, key=shown_key, percent=percent, text=text, reviewable=reviewable,
                       resembled=resembled,
                       style=Markup(STYLE), script=Markup(SCRIPT))  # constants of ours: not escaped
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
