"""The pull request's one comment, as Markdown: overall verdict first, then the detail.

* a headline with the overall verdict (failed runs and regressions first);
* a table benchmark × metric: status, value, unit, baseline, change, verdict;
* suspected changes and their confirmation runs ("confirmed by run X", "not confirmed by run X");
* failed runs with their status and reason; what the GPUs did, the energy and the cost of each run
  that has them (the best hardware of a benchmark marked); links (Argo CD, Grafana, logs) per benchmark;
* each metric's recent history as a mermaid ``xychart-beta`` chart, and the reproducibility
  record, both folded in ``<details>``.

Pure: the same reports give the same bytes. Text from runs (reasons, labels) is escaped so that it
cannot break the table or inject HTML. A comment that would pass GitHub's 65,536 characters drops
the charts, then the reproducibility record, and says so.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from controller.reporting.github import MARKER
from controller.reporting.runreport import RunReport, point_label
from controller.reporting.usage import usage_section
from schemas.status import RunStatus

MAX_COMMENT = 60_000  # GitHub's limit is 65,536; leave room for the marker and a margin
HISTORY_POINTS = 20

_STATUS_ICON = {
    RunStatus.SUCCEEDED: "✅",
    RunStatus.FAILED: "❌",
    RunStatus.TIMED_OUT: "⏱️",
    RunStatus.ERROR: "💥",
    RunStatus.CANCELED: "🚫",
}
_VERDICT_WORDS = {
    "regression": "🔻 regression",
    "improvement": "🔺 improvement",
    "suspected": "❔ suspected — confirming",
    "no_change": "no change",
    "insufficient_data": "not enough history",
}


def render_comment(reports: Sequence[RunReport], *, commit: str | None = None) -> str:
    ordered = sorted(reports, key=lambda r: (r.benchmark, point_label(r.matrix_point), r.run_id))
    head = [MARKER, _headline(ordered), ""]
    if commit:
        head += [f"<sub>Results for commit `{commit[:12]}` · {_plural(len(ordered), 'run')}</sub>", ""]
    body = _table(ordered) + _confirmations(ordered) + _failures(ordered) + _unmatched(ordered) + usage_section(ordered, _cell) + _links(ordered)
    history = _history(ordered)
    repro = _reproducibility(ordered)
    for extras, note in (
        (history + repro, []),
        (repro, ["_The history charts were left out to keep this comment within GitHub's size limit._", ""]),
        ([], ["_History and reproducibility records were left out to keep this comment within GitHub's size limit._", ""]),
    ):
        text = "\n".join(head + body + note + extras).rstrip() + "\n"
        if len(text) <= MAX_COMMENT:
            return text
    return text[: MAX_COMMENT - 80].rsplit("\n", 1)[0] + "\n\n_…cut to fit GitHub's size limit._\n"


def _headline(reports: Sequence[RunReport]) -> str:
    if not reports:
        return "### ⏳ Anubis: no runs yet"
    running = [r for r in reports if not r.status.is_final]
    failed = [r for r in reports if r.status.is_final and r.status != RunStatus.SUCCEEDED]
    failing = sum(len(r.failing_regressions) for r in reports if r.status == RunStatus.SUCCEEDED)
    soft = sum(len(r.regressions) for r in reports if r.status == RunStatus.SUCCEEDED) - failing
    improved = sum(1 for r in reports for v in r.verdicts.values() if v.verdict == "improvement")
    problems = []
    if failed:
        problems.append(f"{_plural(len(failed), 'failed run')}")
    if failing:
        problems.append(_plural(failing, "regression"))
    if soft:
        problems.append(f"{_plural(soft, 'regression')} the policy lets pass")
    if running:
        done = len(reports) - len(running)
        prefix = "⏳" if not (failed or failing) else "❌"
        state = f"{done} of {_plural(len(reports), 'run')} finished"
        return f"### {prefix} Anubis: {state}" + (f" ({', '.join(problems)})" if problems else "")
    if failed or failing:
        return f"### ❌ Anubis: {', '.join(problems)}"
    if soft:
        return f"### ⚠️ Anubis: {', '.join(problems)}"
    extra = f", {_plural(improved, 'improvement')}" if improved else ""
    suspected = sum(1 for r in reports for v in r.verdicts.values() if v.verdict == "suspected")
    if suspected:
        return (f"### 🔎 Anubis: {_plural(len(reports), 'run')} succeeded; "
                f"{_plural(suspected, 'change')} suspected — confirming{extra}")
    return f"### ✅ Anubis: {_plural(len(reports), 'run')} succeeded, no regression{extra}"


def _table(reports: Sequence[RunReport]) -> list[str]:
    rows = [
        "| Benchmark | Status | Metric | Value | Unit | Baseline | Change | Verdict |",
        "|---|---|---|--:|---|--:|--:|---|",
    ]
    for r in reports:
        name = _cell(_name(r))
        status = f"{_STATUS_ICON.get(r.status, '⏳')} {r.status.value.lower().replace('_', ' ')}"
        metrics = list(r.record.metrics.values()) if r.record else []
        if not metrics:
            rows.append(f"| {name} | {status} | — | — | | — | — | — |")
            continue
        for m in metrics:
            v = r.verdicts.get(m.name)
            s = m.summary()
            if s is None:
                value = "⚠️ never matched"
            elif s.n == 1:
                value = _num(s.last)
            else:
                value = f"{_num(s.mean)} ± {_num(s.stdev)} (n={s.n})"
            baseline = _num(v.baseline) if v and v.baseline is not None else "—"
            change = f"{v.change:+.1%}" if v and v.change is not None and math.isfinite(v.change) else "—"
            verdict = _VERDICT_WORDS.get(v.verdict, v.verdict) if v else "—"
            if v and v.verdict == "regression" and m.name in r.fail_on_regression:
                verdict += " (fails)"
            if v and v.confidence is not None and v.verdict in ("regression", "improvement"):
                verdict += f", {v.confidence:.1%} confidence"
            rows.append(
                f"| {name} | {status} | {_cell(m.name)} | {value} | {_cell(m.unit)} | {baseline} | {change} | {verdict} |"
            )
    return rows + [""]


def _confirmations(reports: Sequence[RunReport]) -> list[str]:
    """Suspected changes and their confirmation runs (the lines come from the controller's ledger)."""
    lines = [f"- **{_text(_name(r))}**: {r.confirmation}" for r in reports if r.confirmation]
    return (["**Confirmation runs**", "", *lines, ""]) if lines else []


def _failures(reports: Sequence[RunReport]) -> list[str]:
    failed = [r for r in reports if r.status.is_final and r.status != RunStatus.SUCCEEDED]
    if not failed:
        return []
    lines = ["**Failed runs**", ""]
    for r in failed:
        reason = _text(r.reason) if r.reason else "no reason recorded"
        lines.append(f"- {_STATUS_ICON.get(r.status, '')} **{_text(_name(r))}** (`{r.run_id}`): {r.status.value} — {reason}")
    return lines + [""]


def _unmatched(reports: Sequence[RunReport]) -> list[str]:
    """Declared metrics that never got a value: the pattern is probably wrong, so say so loudly."""
    lines = []
    for r in reports:
        names = [m.name for m in (r.record.metrics.values() if r.record else ()) if not m.values]
        if names:
            listed = ", ".join(f"`{_text(n)}`" for n in names)
            lines.append(f"- ⚠️ **{_text(_name(r))}** (`{r.run_id}`): {listed} never matched the output; check the"
                         " pattern against the run's log")
    return (["**Metrics without a value**", "", *lines, ""]) if lines else []


def _links(reports: Sequence[RunReport]) -> list[str]:
    lines: list[str] = []
    for r in reports:
        links = [
            (label, url)
            for label, url in (("Argo CD", r.links.argocd_url), ("Grafana", r.links.grafana_url), ("logs", r.logs_url))
            if url
        ]
        if links:
            lines.append(f"- **{_text(_name(r))}**: " + " · ".join(f"[{label}]({_url(url)})" for label, url in links))
    return (["**Links**", ""] + lines + [""]) if lines else []


def _history(reports: Sequence[RunReport]) -> list[str]:
    charts: list[str] = []
    for r in reports:
        current = r.record.metrics if r.record else {}
        for metric in sorted(set(r.history) | set(current)):
            values = [v for v in r.history.get(metric, ()) if math.isfinite(v)]
            summary = current[metric].summary() if metric in current else None
            if summary is not None:
                values.append(summary.mean)
            values = values[-HISTORY_POINTS:]
            if len(values) < 2:
                continue
            unit = current[metric].unit if metric in current else ""
            title = _mermaid(f"{_name(r)} · {metric}")
            charts += [
                "```mermaid",
                "xychart-beta",
                f'  title "{title}"',
                f"  x-axis [{', '.join(str(i) for i in range(1, len(values) + 1))}]",
                f'  y-axis "{_mermaid(unit or metric)}"',
                f"  line [{', '.join(_num(v) for v in values)}]",
                "```",
                "",
            ]
    if not charts:
        return []
    return ["<details><summary>History (the newest point is this run)</summary>", ""] + charts + ["</details>", ""]


def _reproducibility(reports: Sequence[RunReport]) -> list[str]:
    rows: list[str] = []
    for r in reports:
        if r.record is None:
            continue
        p = r.record.reproducibility
        datasets = ", ".join(f"{_text(k)} `{_text(v)}`" for k, v in sorted(p.dataset_checksums.items())) or "—"
        rows.append(
            f"| {_cell(_name(r))} | `{r.record.execution_id}` | `{_cell(p.image)}` | "
            f"{'`' + _cell(p.image_digest) + '`' if p.image_digest else '—'} | {_cell(p.instance_type or '—')} | "
            f"{_cell(p.accelerator or '—')} | `{p.descriptor_hash[:16]}` | {datasets} |"
        )
    if not rows:
        return []
    return [
        "<details><summary>Reproducibility</summary>",
        "",
        "| Run | Execution | Image | Image digest | Instance type | Accelerator | Descriptor hash | Datasets |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "</details>",
        "",
    ]


def _name(r: RunReport) -> str:
    return f"{r.benchmark} [{point_label(r.matrix_point)}]" if r.matrix_point else r.benchmark


def _num(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


def _text(text: str) -> str:
    return html.escape(" ".join(text.split()), quote=False).replace("|", "\\|").replace("`", "'")


def _cell(text: str) -> str:
    return _text(text)


def _url(url: str) -> str:
    return url.replace(" ", "%20").replace(")", "%29")


def _mermaid(text: str) -> str:
    return "".join(c for c in text if c not in '"\\[]`').strip()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
