"""A static HTML gallery of the store: no network, no scripts, every user string escaped."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from vidflow.manifest import Manifest

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;background:#f6f6f4;color:#222}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:1rem}
.card{background:#fff;border-radius:8px;padding:.8rem;box-shadow:0 1px 3px #0002}
video{width:100%;border-radius:4px;background:#000}
.prompt{font-style:italic;margin:.4rem 0}
table{border-collapse:collapse;font-size:.85rem;width:100%}
td{padding:2px 4px;border-top:1px solid #eee;vertical-align:top}
.status{font-weight:bold} .warn{color:#a40}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _scores(manifest: Manifest) -> str:
    safety = manifest.safety or {}
    scores = safety.get("scores") or {}
    calibrated = "" if safety.get("calibrated", True) else " (CLIP uncalibrated)"
    cells = ", ".join(f"{_e(k)} {float(v):.3f}" for k, v in sorted(scores.items()))
    return f"{cells}{_e(calibrated)}" if cells else "none"


def _provenance(manifest: Manifest) -> str:
    p = manifest.provenance or {}
    if not p:
        return "not recorded"
    watermark = (p.get("watermark") or {}).get("payload")
    c2pa = p.get("c2pa") or {}
    signed = "signed" if c2pa.get("signed") else "unsigned"
    if c2pa.get("development_certificate"):
        signed += " (development certificate)"
    return f"watermark {_e(watermark)}; label {_e(p.get('label'))}; C2PA {_e(signed)}"


def _review(review: dict[str, Any]) -> str:
    """One human review in a line: who decided what, when and why, or that it waits."""
    decision = review.get("decision")
    held = "prompt held" if review.get("stage") == "prompt" else "video quarantined"
    if not decision:
        return f"{held}; awaiting review (vidflow review approve|reject {review.get('job_id')})"
    past = {"approve": "approved", "reject": "rejected"}.get(decision.get("action"), "decided")
    when = str(decision.get("decided_at", ""))[:16].replace("T", " ")
    return f"{held}; {past} by {decision.get('reviewer')} on {when} UTC: {decision.get('reason')}"


def _card(manifest: Manifest) -> str:
    job = manifest.job
    verdict = (manifest.verdict or {}).get("action", "")
    seconds = manifest.timings.get("total_s")
    rows = [
        ("preset", job.get("preset")),
        ("size", f"{job.get('width')}x{job.get('height')}, {job.get('num_frames')} frames"),
        ("prompt moderation", verdict),
        ("source", manifest.source),
        ("job hash", manifest.job_hash[:16]),
    ]
    if seconds is not None:
        rows.append(("generation", f"{seconds:.1f} s"))
    rows += [("human review", _review(review)) for review in manifest.reviews]
    table = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows)
    return (
        f'<div class="card" id="job-{_e(manifest.job_id)}">'
        f'<video controls muted loop preload="metadata" src="{_e(manifest.video)}"></video>'
        f"<h3>{_e(manifest.job_id)}</h3>"
        f'<p class="prompt">{_e(job.get("prompt", ""))}</p>'
        f"<table>{table}"
        f"<tr><td>safety scores</td><td>{_scores(manifest)}</td></tr>"
        f"<tr><td>provenance</td><td>{_provenance(manifest)}</td></tr></table></div>"
    )


def _withheld_row(manifest: Manifest) -> str:
    reason = manifest.error or ""
    if manifest.status in ("blocked", "review") and manifest.verdict:
        reason = f"{manifest.verdict.get('category')}: {manifest.verdict.get('rule')}"
    elif manifest.status == "quarantined":
        flagged = (manifest.safety or {}).get("flagged_categories") or []
        reason = "output safety: " + ", ".join(flagged)
    if manifest.reviews:
        reason += "; " + "; ".join(_review(review) for review in manifest.reviews)
    return (
        f'<tr class="withheld" id="job-{_e(manifest.job_id)}"><td>{_e(manifest.job_id)}</td>'
        f'<td class="status warn">{_e(manifest.status)}</td><td>{_e(reason)}</td>'
        f"<td>{_e(manifest.source)}</td></tr>"
    )


def render_gallery(manifests: list[Manifest], title: str = "vidflow gallery") -> str:
    published = [m for m in manifests if m.status == "published" and m.video]
    withheld = [m for m in manifests if m.status != "published"]
    cards = "".join(_card(m) for m in sorted(published, key=lambda m: m.job_id))
    rows = "".join(_withheld_row(m) for m in sorted(withheld, key=lambda m: m.job_id))
    withheld_html = (
        "<h2>Not published</h2><table><tr><td>job</td><td>status</td><td>why</td>"
        f"<td>source</td></tr>{rows}</table>"
        if rows
        else ""
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{_e(title)}</h1><p>{len(published)} published video(s). Every video carries an "
        "invisible watermark, a visible label and a C2PA manifest; check one with "
        "<code>vidflow verify FILE</code>.</p>"
        f'<div class="grid">{cards}</div>{withheld_html}</body></html>'
    )


def write_gallery(manifests: list[Manifest], store_root: Path) -> Path:
    """Write `index.html` at the store root (atomically) and return its path."""
    path = store_root / "index.html"
    tmp = path.with_name(".index.html.partial")
    tmp.write_text(render_gallery(manifests), encoding="utf-8")
    tmp.replace(path)
    return path
