"""The TCPD part of ``python bench/detection.py --tcpd``: real series with human-marked changes.

Offline: each detector segments each whole series; the paper's F1 (margin 5) and cover, with the
published default scores of the paper's methods beside them. Online, as the data set's README
describes it: every point ``t >= 10`` is judged against the points ``[0, t)``; an alarm within 5
points after a marked change (of any annotator; 0 marks "no change") detects it, any other alarm is
a false alarm. A change marked before point 10 whose 5 points reach the judged ones (5 <= c < 10)
counts like any other (an alarm at 10..c+5 detects it); one marked earlier cannot be detected and
is left out. Both over all 25 series and over the even- and odd-numbered halves (by name order).

The default detector's pass is kept verdict by verdict, so the bench also says why each marked change
it missed was missed (:func:`missed_changes`) and where its false alarms are (:func:`false_alarms`).

Then the trade-off of false alarms against recall: Bayesian online change-point detection
(``bench/bocpd.py``) over its threshold, and the verdicts over the policy's ``confidence`` (each
point one more online pass; only the default's in ``--quick``), and which points meet both goals.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from bench import bocpd, tcpd
from bench.detection import FIRST_JUDGED, TOLERANCE, anubis_detector, ratio_detector, zscore_detector
from controller.analysis import judge_series
from controller.baselines import HISTORY_LIMIT
from controller.changepoints import change_points
from schemas.runspec import RegressionPolicy

Offline = Callable[[Sequence[float]], list[int]]


def _sigma(x: np.ndarray) -> float:  # type: ignore[type-arg]
    """Noise scale for the BIC penalty: MAD of the first differences / sqrt(2) (ruptures' examples)."""
    d = np.diff(x)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2)) or float(np.std(x)) or 1.0


def ruptures_offline(method: str) -> Offline:
    """ruptures' PELT or BinSeg with the l2 cost and a BIC penalty ``2 sigma^2 log n`` (a location
    and a mean per change point), minimum segment 2."""

    def run(values: Sequence[float]) -> list[int]:
        import ruptures

        x = np.asarray(values, dtype=float)
        pen = 2.0 * _sigma(x) ** 2 * math.log(x.size)
        algo = (ruptures.Pelt if method == "pelt" else ruptures.Binseg)(model="l2", min_size=2, jump=1).fit(x)
        return [int(b) for b in algo.predict(pen=pen) if b < x.size]

    return run


def otava_offline(values: Sequence[float]) -> list[int]:
    from otava.analysis import compute_change_points

    points, _ = compute_change_points(list(values), window_len=50, max_pvalue=0.001, min_magnitude=0.0)
    return sorted(int(p.index) for p in points)


def otava_online(values: Sequence[float]) -> list[bool]:
    """Otava on the newest 60 points so far (its window is 50): an alarm when the newest point
    starts a change point it did not report before."""
    from otava.analysis import compute_change_points

    alarms = []
    seen: set[int] = set()
    for t in range(FIRST_JUDGED, len(values)):
        start = max(0, t + 1 - 60)
        points, _ = compute_change_points(list(values[start : t + 1]), window_len=50, max_pvalue=0.001,
                                          min_magnitude=0.0)
        found = {start + int(p.index) for p in points if start + int(p.index) > t - TOLERANCE}
        alarms.append(bool(found - seen))
        seen |= found
    return alarms


OFFLINE: dict[str, Offline] = {
    "anubis change_points": lambda v: change_points(v),
    "anubis change_points(slopes=False)": lambda v: change_points(v, slopes=False),
    "ruptures PELT (l2, BIC)": ruptures_offline("pelt"),
    "ruptures BinSeg (l2, BIC)": ruptures_offline("binseg"),
    "otava (E-divisive, p<0.001)": otava_offline,
}

ONLINE = {
    "anubis (confirm 0)": anubis_detector(RegressionPolicy(confirm=0)),
    "anubis (min_change 1%)": anubis_detector(RegressionPolicy(min_change=0.01)),
    "z-score > 5, window 20 (conbench)": zscore_detector(),
    "ratio 110%": ratio_detector(1.10),
    "ratio 200% (github-action-benchmark)": ratio_detector(2.0),
    "otava (newest 60 points)": otava_online,
    "bocpd, a line per run (p > 0.5)": bocpd.detector(0.5, first=FIRST_JUDGED),
    "bocpd, a level per run (p > 0.5)": bocpd.detector(0.5, line=False, first=FIRST_JUDGED),
}

#: The trade-off curves (false alarms against recall): BOCPD's threshold, and the verdicts' confidence
#: (the policy knob; each point is a full online pass, left out of ``--quick``).
BOCPD_THRESHOLDS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
CONFIDENCES = (0.9, 0.95, 0.999)


def _offline(name: str) -> tuple[str, list[float], list[float], float]:
    began = time.perf_counter()
    f1s, covers = [], []
    for series in tcpd.load():
        found = OFFLINE[name](series.values)
        f1s.append(tcpd.f_measure(series.annotations, found)[0])
        covers.append(tcpd.covering(series.annotations, found, len(series.values)))
    return name, f1s, covers, time.perf_counter() - began


def _online(name: str) -> tuple[str, list[tuple[int, int, int, int, int]], float]:
    """Per series: (judged, alarms, true alarms, marked changes, detected changes)."""
    began = time.perf_counter()
    rows = []
    for series in tcpd.load():
        alarms = ONLINE[name](series.values)
        at = [FIRST_JUDGED + i for i, a in enumerate(alarms) if a]
        rows.append(online_counts(series.annotations, at, len(alarms)))
    return name, rows, time.perf_counter() - began


DEFAULT = "anubis (defaults: confirm 1)"
CHANGES = ("regression", "improvement")


def _default_verdicts(index: int) -> tuple[list[tuple[str, bool]], float]:
    """The default policy's verdict on every judged point of series ``index``: (verdict, whether a
    change of course gave it); and the seconds they took."""
    began = time.perf_counter()
    series = tcpd.load()[index]
    policy = RegressionPolicy()
    out = []
    for t in range(FIRST_JUDGED, len(series.values)):
        # the points before t as a result store reads them (HISTORY_LIMIT, the newest 500): on TCPD the
        # same verdicts as the whole past (569 points lie past the limit; none differs)
        verdict = judge_series(list(series.values[max(0, t - HISTORY_LIMIT):t]), series.values[t], "lower", policy)
        out.append((verdict.verdict, "left the course" in verdict.reason))
    return out, time.perf_counter() - began


def _marked(annotations: dict[str, list[int]]) -> list[int]:
    """The marked changes an online judgement can reach (``c + 5 >= 10``; 0 marks "no change")."""
    return sorted({c for a in annotations.values() for c in a if c > 0 and c + TOLERANCE >= FIRST_JUDGED})


#: Why a marked change was missed, in the order the reasons are tried (the first that holds is given).
MISSED = (
    "found",
    "an alarm 1-5 points before the mark (none within 5 after)",
    "found late: the first alarm 6-15 points after",
    "suspected in time, not confirmed in time",
    "smaller than min_change (5 %) against the level and the line before",
    "within the noise: under 3 standard deviations of the level and of the line's forecast",
    "beyond the noise, not found",
)


def missed_changes(series: tcpd.Labelled, verdicts: Sequence[tuple[str, bool]],
                   min_change: float) -> list[tuple[int, int]]:
    """Each marked change within reach, with the index into :data:`MISSED` of why it was (not) found.

    Over the 20 points before the change (at least 5) and the 6 the scoring gives it (``c .. c+5``):
    *smaller than min_change* when the mean of the 6 moves by less than ``min_change`` both from the
    mean before and from the mean of their forecasts by the straight line through the points before;
    *within the noise* when the mean of the 6 lies within 3 standard deviations of the points before
    and none of them is 3 residual standard deviations from the line's forecast (a step that size is
    one a single judgement at confidence 0.99 cannot tell from noise; only the runs together can)."""
    x = np.asarray(series.values, dtype=float)

    def kind(t: int) -> str | None:
        return verdicts[t - FIRST_JUDGED][0] if FIRST_JUDGED <= t < x.size else None

    out = []
    for c in _marked(series.annotations):
        window = range(c, c + TOLERANCE + 1)
        if any(kind(t) in CHANGES for t in window):
            out.append((c, 0))
        elif any(kind(t) in CHANGES for t in range(c - TOLERANCE, c)):
            out.append((c, 1))
        elif any(kind(t) in CHANGES for t in range(c + TOLERANCE + 1, c + 3 * TOLERANCE + 1)):
            out.append((c, 2))
        elif any(kind(t) == "suspected" for t in window):
            out.append((c, 3))
        else:
            before, after = x[max(0, c - 20):c], x[c:c + TOLERANCE + 1]
            t = np.arange(before.size, dtype=float)
            slope, intercept = np.polyfit(t, before, 1)
            line = intercept + slope * np.arange(before.size, before.size + after.size)
            residual = float(np.std(before - (intercept + slope * t), ddof=2)) if before.size > 2 else 0.0
            spread = float(np.std(before, ddof=1))
            level = abs(float(after.mean() - before.mean()))
            course = np.abs(after - line)
            small = (level < min_change * abs(float(before.mean()))
                     and abs(float(after.mean() - line.mean())) < min_change * abs(float(line.mean())))
            quiet = level < 3.0 * spread and bool(np.all(course < 3.0 * residual))
            out.append((c, 4 if small else 5 if quiet else 6))
    return out


def false_alarms(series: tcpd.Labelled, verdicts: Sequence[tuple[str, bool]]) -> list[tuple[int, str, bool]]:
    """Each false alarm: (point, where it lies against the marks, whether a change of course gave it)."""
    marked = _marked(series.annotations)
    out = []
    for i, (verdict, course) in enumerate(verdicts):
        p = FIRST_JUDGED + i
        if verdict not in CHANGES or any(c <= p <= c + TOLERANCE for c in marked):
            continue
        if any(c + TOLERANCE < p <= c + 3 * TOLERANCE for c in marked):
            where = "6-15 points after a mark"
        elif any(p < c <= p + TOLERANCE for c in marked):
            where = "1-5 points before a mark"
        else:
            where = "no mark near"
        out.append((p, where, course))
    return out


def _bocpd_curve(line: bool) -> list[tuple[float, list[tuple[int, int, int, int, int]]]]:
    """Per threshold of :data:`BOCPD_THRESHOLDS`, the per-series counts (one posterior per series)."""
    probabilities = [(s, bocpd.change_probability(bocpd.run_lengths(s.values, line=line))) for s in tcpd.load()]
    curve = []
    for threshold in BOCPD_THRESHOLDS:
        rows = []
        for series, probability in probabilities:
            fired = bocpd.alarms(probability, threshold, FIRST_JUDGED)
            rows.append(online_counts(series.annotations, [FIRST_JUDGED + i for i, a in enumerate(fired) if a],
                                      len(fired)))
        curve.append((threshold, rows))
    return curve


def _confidence_point(confidence: float) -> tuple[float, list[tuple[int, int, int, int, int]]]:
    detector = anubis_detector(RegressionPolicy(confidence=confidence))
    rows = []
    for series in tcpd.load():
        fired = detector(series.values)
        rows.append(online_counts(series.annotations, [FIRST_JUDGED + i for i, a in enumerate(fired) if a], len(fired)))
    return confidence, rows


def online_counts(annotations: dict[str, list[int]], alarms: Sequence[int], judged: int) -> tuple[int, int, int, int, int]:
    """(judged, alarms, true alarms, marked changes, detected changes) of one series: an alarm at
    ``p`` is true when some annotator marked a change ``c`` (``c > 0``) with ``c <= p <= c + 5``;
    the marked changes are those whose 5 points after reach a judged point (``c + 5 >= 10``)."""
    marked = sorted({c for a in annotations.values() for c in a if c > 0 and c + TOLERANCE >= FIRST_JUDGED})
    true = [p for p in alarms if any(c <= p <= c + TOLERANCE for c in marked)]
    detected = [c for c in marked if any(c <= p <= c + TOLERANCE for p in alarms)]
    return judged, len(alarms), len(true), len(marked), len(detected)


def _online_scores(rows: Sequence[tuple[int, int, int, int, int]]) -> tuple[float, float, float, float]:
    judged, alarms, true, marked, detected = (sum(r[i] for r in rows) for i in range(5))
    precision = true / alarms if alarms else math.nan
    recall = detected / marked if marked else math.nan
    f1 = 2 * precision * recall / (precision + recall) if alarms and precision + recall > 0 else 0.0
    return 100.0 * (alarms - true) / judged, precision, recall, f1


def _separable(data: Sequence[tcpd.Labelled]) -> tuple[int, int]:
    """How many marked changes (within reach online) are plainly a change of level: the mean of
    their first 3 points beyond 3 standard deviations of the 20 points before (and 5 % away)."""
    clear = total = 0
    for series in data:
        x = np.asarray(series.values, dtype=float)
        for c in sorted({c for a in series.annotations.values() for c in a if c > 0 and c + TOLERANCE >= FIRST_JUDGED}):
            before, after = x[max(0, c - 20):c], x[c:c + 3]
            if before.size < 3 or after.size < 2:
                continue
            total += 1
            shift = abs(float(after.mean() - before.mean()))
            clear += bool(shift > 3 * float(before.std(ddof=1)) and shift >= 0.05 * abs(float(before.mean())))
    return clear, total


def report(jobs: int, *, include_otava: bool, quick: bool = False) -> None:
    """Print the offline and online tables and the goals of issue 17 met or not."""
    try:
        data = tcpd.load()
    except FileNotFoundError as e:
        print(f"TCPD: skipped, the data set is not here ({e}); see ../shared/data/tcpd/README.md")
        return
    published = tcpd.published()
    print(f"\nTCPD: {len(data)} real series, {sum(len(s.values) for s in data)} points "
          f"(even/odd: the halves by name order)")
    try:
        import ruptures  # noqa: F401
        has_ruptures = True
    except ImportError as e:
        has_ruptures = False
        print(f"ruptures' rows left out: {e} (`pip install ruptures` includes them)")
    offline = [n for n in OFFLINE if (include_otava or not n.startswith("otava"))
               and (has_ruptures or not n.startswith("ruptures"))]
    online = [n for n in ONLINE if (include_otava and not quick) or not n.startswith("otava")]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        off = list(pool.map(_offline, offline))
        passes = list(pool.map(_default_verdicts, range(len(data))))
        verdicts = [vs for vs, _ in passes]
        default_rows = [online_counts(s.annotations, [FIRST_JUDGED + i for i, v in enumerate(vs) if v[0] in CHANGES],
                                      len(vs)) for s, vs in zip(data, verdicts)]
        on = [(DEFAULT, default_rows, sum(seconds for _, seconds in passes)), *pool.map(_online, online)]
        online = [DEFAULT, *online]
        confidence_curve = [] if quick else list(pool.map(_confidence_point, CONFIDENCES))
        bocpd_curves = list(pool.map(_bocpd_curve, (True, False)))
    print(f"\noffline, F1 / cover (margin {tcpd.MARGIN}):")
    print(f"{'method':<38} {'F1':>6} {'cover':>6}   {'even F1/cover':>14} {'odd F1/cover':>14}  seconds")
    for name, f1s, covers, seconds in off:
        print(f"{name:<38} {np.mean(f1s):>6.3f} {np.mean(covers):>6.3f}   "
              f"{np.mean(f1s[::2]):>6.3f}/{np.mean(covers[::2]):.3f}  {np.mean(f1s[1::2]):>6.3f}/{np.mean(covers[1::2]):.3f}"
              f"  {seconds:6.1f}")
    names = [s.name for s in data]
    for method in ("binseg", "pelt", "amoc", "bocpd", "ecp", "zero"):
        f1s = [published["f1"][n][method] for n in names]
        covers = [published["cover"][n][method] for n in names]
        print(f"{'published ' + method:<38} {np.mean(f1s):>6.3f} {np.mean(covers):>6.3f}   "
              f"{np.mean(f1s[::2]):>6.3f}/{np.mean(covers[::2]):.3f}  {np.mean(f1s[1::2]):>6.3f}/{np.mean(covers[1::2]):.3f}")
    ours_f1, ours_cover = np.mean(off[0][1]), np.mean(off[0][2])
    binseg_f1 = np.mean([published["f1"][n]["binseg"] for n in names])
    binseg_cover = np.mean([published["cover"][n]["binseg"] for n in names])
    met = ours_f1 > binseg_f1 and ours_cover > binseg_cover
    print(f"goal: offline F1 and cover above published binseg ({binseg_f1:.3f} / {binseg_cover:.3f}): "
          f"{ours_f1:.3f} / {ours_cover:.3f} {'met' if met else 'NOT met'}")
    print(f"\nonline (judged from point {FIRST_JUDGED + 1}; an alarm within {TOLERANCE} points after a marked change finds it):")
    print(f"{'detector':<38} {'FA/100':>7} {'precision':>9} {'recall':>7} {'F1':>6}   {'even FA/F1':>11} {'odd FA/F1':>11}  seconds")
    for name, rows, seconds in on:
        fa, precision, recall, f1 = _online_scores(rows)
        even, odd = _online_scores(rows[::2]), _online_scores(rows[1::2])
        print(f"{name:<38} {fa:>7.2f} {precision:>9.3f} {recall:>7.3f} {f1:>6.3f}   "
              f"{even[0]:>5.2f}/{even[3]:.3f} {odd[0]:>5.2f}/{odd[3]:.3f}  {seconds:6.1f}")
    scores = {name: _online_scores(rows) for name, rows, _ in on}
    fa, _, recall, f1 = scores[online[0]]
    peers = [n for n in scores if not n.startswith("anubis")]  # the other rows are ours with other knobs
    best = max(peers, key=lambda n: scores[n][3])
    print(f"goal: online at most 1 false alarm per 100 judged points ({fa:.2f}: {'met' if fa <= 1.0 else 'NOT met'}), "
          f"recall at least 0.5 ({recall:.3f}: {'met' if recall >= 0.5 else 'NOT met'}), an F1 above every peer's "
          f"({f1:.3f}; best peer {best} {scores[best][3]:.3f}: {'met' if f1 > scores[best][3] else 'NOT met'})")
    print("\ntrade-off, false alarms per 100 judged points against recall (even / odd halves: FA / recall):")
    print(f"{'detector':<46} {'FA/100':>7} {'recall':>7} {'F1':>6}   {'even':>11} {'odd':>11}")
    curve_rows = [(f"anubis, confidence {c}" + (" (default)" if c == RegressionPolicy().confidence else ""), rows)
                  for c, rows in sorted([*confidence_curve, (RegressionPolicy().confidence, on[0][1])])]
    for line, curve in zip(("a line", "a level"), bocpd_curves):
        curve_rows += [(f"bocpd, {line} per run, p > {t}", rows) for t, rows in curve]
    for label, rows in curve_rows:
        fa, _, recall, f1 = _online_scores(rows)
        even, odd = _online_scores(rows[::2]), _online_scores(rows[1::2])
        print(f"{label:<46} {fa:>7.2f} {recall:>7.3f} {f1:>6.3f}   {even[0]:>5.2f}/{even[2]:.3f} {odd[0]:>5.2f}/{odd[2]:.3f}")
    both = [label for label, rows in curve_rows if _online_scores(rows)[0] <= 1.0 and _online_scores(rows)[2] >= 0.5]
    best_within = max(curve_rows, key=lambda r: _online_scores(r[1])[2] if _online_scores(r[1])[0] <= 1.0 else -1.0)
    print(f"points of the curves meeting both online goals: {', '.join(both) if both else 'none'}; the highest recall "
          f"at most 1 false alarm per 100: {best_within[0]} ({_online_scores(best_within[1])[2]:.3f})")
    ceiling = _separable(data)
    print(f"of the {ceiling[1]} marked changes within reach, {ceiling[0]} put the mean of their first 3 points more than 3 "
          f"standard deviations from the 20 points before them (a change in level a detector can see within 5 points)")
    _print_breakdown(data, verdicts)


def _print_breakdown(data: Sequence[tcpd.Labelled], verdicts: Sequence[Sequence[tuple[str, bool]]]) -> None:
    """Why the default detector missed each marked change it missed, and where its false alarms are."""
    whys: dict[int, list[str]] = {}
    halves = {i: [0, 0] for i in range(len(MISSED))}
    for number, (series, vs) in enumerate(zip(data, verdicts)):
        for c, why in missed_changes(series, vs, RegressionPolicy().min_change):
            whys.setdefault(why, []).append(f"{series.name}@{c}")
            halves[why][number % 2] += 1
    total = sum(len(v) for v in whys.values())
    print(f"\nthe {total} marked changes within reach, by what the default detector did (even / odd halves; examples):")
    for why, label in enumerate(MISSED):
        found = whys.get(why, [])
        print(f"{len(found):>5}  {halves[why][0]:>3} / {halves[why][1]:<3} {label}: {' '.join(found[:6])}"
              f"{' ...' if len(found) > 6 else ''}")
    alarms = [(series.name, *fa) for series, vs in zip(data, verdicts) for fa in false_alarms(series, vs)]
    by_series: dict[str, int] = {}
    for name, *_ in alarms:
        by_series[name] = by_series.get(name, 0) + 1
    worst = sorted(by_series.items(), key=lambda kv: -kv[1])[:3]
    places = {w: sum(1 for a in alarms if a[2] == w) for w in ("6-15 points after a mark", "1-5 points before a mark", "no mark near")}
    print(f"its {len(alarms)} false alarms: {', '.join(f'{n} {w}' for w, n in places.items())}; "
          f"{sum(1 for a in alarms if a[3])} from a change of course, {sum(1 for a in alarms if not a[3])} from a level; "
          f"most in {', '.join(f'{name} ({n})' for name, n in worst)}")
