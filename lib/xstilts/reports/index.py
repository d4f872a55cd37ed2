"""`outputs/<profile>/index.html`: one page linking every report, figure and table of a profile.

The headline figure (the scaling curves per benchmark) and the analysis's answer stand on the page.
A small inline script marks each image `data-loaded="true|false"` once the page has loaded, so a
headless browser can check that nothing on the page is broken (tests/test_report.py).
"""

from __future__ import annotations

import html
from pathlib import Path

from xstilts.paths import outputs_dir

NOTEBOOK_TITLES = {
    "0_data": "Phase 0 · Data",
    "1_pretrained": "Phase 1 · Pretrained models",
    "2_intermediate": "Phase 2 · Intermediate-task training",
    "3_target": "Phase 3 · Target tasks, zero-shot",
    "4_analysis": "Phase 4 · Analysis",
}
HEADLINE = ("scaling", "scaling_curves", "scaling curves")

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #ddd; }
img { max-width: 100%; border: 1px solid #eee; } .note { color: #666; font-style: italic; }
ul.figures { display: flex; flex-wrap: wrap; gap: 1rem; list-style: none; padding: 0; }
ul.figures li { width: 28rem; } ul.figures img { width: 100%; }
"""
CHECK_SCRIPT = """
window.addEventListener('load', function () {
  document.querySelectorAll('img').forEach(function (img) {
    img.dataset.loaded = String(img.complete && img.naturalWidth > 0);
  });
  document.body.dataset.checked = 'true';
});
"""


def _markdown_paragraphs(text: str) -> str:
    return "".join(f"<p>{html.escape(p.strip())}</p>\n" for p in text.split("\n\n") if p.strip())


def write_index(profile: str, miniature: bool) -> Path:
    """Write the index page of a profile (its name) from what its outputs hold; returns its path."""
    out = outputs_dir(profile)
    out.mkdir(parents=True, exist_ok=True)
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>X-STILTs at scale · {profile}</title>",
        f"<style>{STYLE}</style><script>{CHECK_SCRIPT}</script></head><body>",
        f"<h1>X-STILTs at scale — profile <code>{html.escape(profile)}</code></h1>",
        "<p>Does scaling the pretrained model change what English intermediate-task training buys for "
        "zero-shot cross-lingual transfer, and is that change different on XTREME-R than on XTREME?</p>",
    ]
    if miniature:
        parts.append(
            "<p class='note'>Miniature profile: every number here describes the synthetic miniature world "
            "and its tiny models, not XLM-R.</p>"
        )
    figures = sorted((out / "figures").glob("*.png"))
    headline = next(
        (f for f in figures if f.stem.lower().replace("-", "_") in HEADLINE), figures[0] if figures else None
    )
    if headline is not None:
        parts.append(f"<h2>Headline</h2><img src='{headline.relative_to(out).as_posix()}' alt='{headline.stem}'>")
    answer = out / "results" / "answer.md"
    if answer.exists():
        parts.append("<h2>The answer</h2>" + _markdown_paragraphs(answer.read_text()))
    reports = [(stem, out / "notebooks" / f"{stem}.html") for stem in NOTEBOOK_TITLES]
    parts.append("<h2>Reports</h2><ul>")
    for stem, path in reports:
        if path.exists():
            parts.append(
                f"<li><a href='{path.relative_to(out).as_posix()}'>{NOTEBOOK_TITLES[stem]}</a>"
                f" (<a href='notebooks/{stem}.ipynb'>notebook</a>)</li>"
            )
        else:
            parts.append(f"<li>{NOTEBOOK_TITLES[stem]}: not run yet</li>")
    parts.append("</ul>")
    if figures:
        parts.append("<h2>Figures</h2><ul class='figures'>")
        for fig in figures:
            rel = fig.relative_to(out).as_posix()
            parts.append(
                f"<li><a href='{rel}'><img src='{rel}' alt='{fig.stem}'></a><br>{html.escape(fig.stem.replace('_', ' '))}</li>"
            )
        parts.append("</ul>")
    tables = sorted((out / "results").glob("*.csv"))
    if tables:
        parts.append("<h2>Tables</h2><ul>")
        parts.extend(f"<li><a href='{t.relative_to(out).as_posix()}'>{t.name}</a></li>" for t in tables)
        parts.append("</ul>")
    parts.append("</body></html>\n")
    path = out / "index.html"
    path.write_text("\n".join(parts))
    return path
