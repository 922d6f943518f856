"""How well does a low rung rank candidates? Spearman correlation of rung accuracies with the last.

Reads a trial log written by multi-fidelity searches (e.g. ``benchmarks/compute_efficiency.py``
or ``einnas search --fidelity asha``) and, for every study whose name matches ``--match``, takes
the candidates that reached the last rung and correlates (Spearman) the validation accuracy each
had after every earlier rung with its accuracy after the last.  This is the figure that says
whether a first rung of ``--min-epochs`` epochs is worth its cost: near 0 means promotion by
that rung is a coin toss.

The last line of stdout is one JSON object::

    {"by_step": {STEP: {"rho_mean": ..., "rho_se": ..., "studies": k, "candidates": n}}, ...}

Usage::

    python benchmarks/rung_correlation.py --storage compute_efficiency.db --match asha
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np

from einnas.study.factory import open_storage
from einnas.study.trial import Trial


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def study_correlations(trials: list[Trial]) -> dict[int, tuple[float, int]]:
    """``{step: (rho with the last step, candidates)}`` over candidates that reached the last."""
    curves = [{r.step: r.val for r in t.reports} for t in trials if t.reports]
    if not curves:
        return {}
    last = max(max(c) for c in curves)
    finished = [c for c in curves if last in c]
    out: dict[int, tuple[float, int]] = {}
    steps = sorted({s for c in finished for s in c if s < last})
    for step in steps:
        pairs = [(c[step], c[last]) for c in finished if step in c]
        if len(pairs) < 4:
            continue
        arr = np.asarray(pairs, dtype=float)
        rho = _spearman(arr[:, 0], arr[:, 1])
        if not math.isnan(rho):
            out[step] = (rho, len(pairs))
    return out


def run(storage_url: str, match: str) -> dict[str, Any]:
    storage = open_storage(storage_url)
    per_step: dict[int, list[tuple[float, int]]] = {}
    studies = 0
    for record in storage.list_studies():
        if match not in record.name:
            continue
        found = study_correlations(storage.trials(record.name))
        if found:
            studies += 1
        for step, value in found.items():
            per_step.setdefault(step, []).append(value)
    by_step: dict[str, dict[str, Any]] = {}
    for step in sorted(per_step):
        rhos = [r for r, _ in per_step[step]]
        se = float(np.std(rhos, ddof=1) / math.sqrt(len(rhos))) if len(rhos) > 1 else None
        by_step[str(step)] = {
            "rho_mean": round(float(np.mean(rhos)), 3),
            "rho_se": None if se is None else round(se, 3),
            "studies": len(rhos),
            "candidates": sum(n for _, n in per_step[step]),
        }
    return {"storage": storage_url, "match": match, "studies": studies, "by_step": by_step}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--storage", required=True, help="trial log (a path or sqlite:///...)")
    p.add_argument("--match", default="", help="only studies whose name contains this")
    args = p.parse_args(argv)
    result = run(args.storage, args.match)
    for step, row in result["by_step"].items():
        print(
            f"epoch {step:>3}: rho with the last rung {row['rho_mean']:+.3f}"
            f" ± {row['rho_se']} over {row['studies']} studies ({row['candidates']} candidates)"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
