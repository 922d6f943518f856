"""The DoA diagnostic on search-like training sets: random vs walk vs evolution cells.

Runs :func:`einnas.diagnostics.diagnose_doa` (``einnas diagnose-doa``) for every combination of
table, predictor, training-set size and ``--sampling`` rule, all with **anchored** test pairs (an
evaluated parent ``a``, an unevaluated ``b`` at ``d`` edits: the search's question), and prints,
per combination:

* ``rows1``: ordered DoA training rows one edit apart (how dense the DoA dataset is);
* the MAE of the predicted ``f(b) - f(a)`` at 1 and 2 edits, DoA / absolute predictor / the
  no-change prediction 0 (the mean ``|f(b) - f(a)|``: anchored pairs lie where the training set
  does, so the scale differs between rules -- compare predictors within a row);
* the neighbour ranking over the unevaluated single-edit neighbours of the ``best`` training
  parents (the parents Delta-NAS expands): mean per-parent Spearman rho, DoA / absolute, and the
  regret of the predicted-best neighbour (true gain of the best neighbour minus that of the
  chosen one, percentage points), DoA / absolute / a uniformly random pick; and the same rho for
  ``random`` (uniformly drawn) parents.

Means over ``--seeds`` seeds (the JSON lines carry the standard deviations and every figure).

Usage::

    python benchmarks/doa_sampling.py                               # the docs' grid, ~5 min
    python benchmarks/doa_sampling.py --tables nb201/cifar10 --predictors ridge --seeds 2

Needs the benchmark tables (``EINNAS_BENCHMARK_DIR``); ``--tables synthetic/8x3`` needs none.
BLAS is pinned to one thread (small matrices on a shared machine; see delta_overhead.py).
One JSON object per combination on stdout as it finishes, then a Markdown table.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
from typing import Any  # noqa: E402

from einnas.diagnostics import (  # noqa: E402
    SAMPLING_MODES,
    DoADiagnosis,
    default_config,
    diagnose_doa,
    load_objective_table,
)

DEFAULT_TABLES = (
    "nb201/cifar10",
    "nb201/cifar100",
    "nb201/imagenet",
    "nasbench-macro",
    "transnas-micro/class_scene",
)


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _jsonable(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _f(x: float, fmt: str) -> str:
    return format(x, fmt) if math.isfinite(x) else "-"


def summary_row(diag: DoADiagnosis) -> dict[str, Any]:
    """The figures of one run that the table shows."""
    by_d = {r.distance: r for r in diag.rows}
    rank = {g.group: g for g in diag.ranking}
    out: dict[str, Any] = {
        "table": diag.table,
        "predictor": diag.config.predictor,
        "n_archs": diag.config.n_archs,
        "sampling": diag.config.sampling,
        "rows1": by_d[1].train_rows,
        "mae1": (by_d[1].doa.mae, by_d[1].absolute.mae, by_d[1].no_change_mae),
        "mae2": (by_d[2].doa.mae, by_d[2].absolute.mae, by_d[2].no_change_mae),
    }
    for group, g in rank.items():
        out[f"rho_{group}"] = (g.doa.spearman, g.absolute.spearman)
        out[f"regret_{group}"] = (g.doa.regret, g.absolute.regret, g.random_regret)
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| table | pred | N | sampling | rows1 | MAE d=1 DoA/abs/0 | MAE d=2 DoA/abs/0 "
        "| best: rho DoA/abs | best: regret DoA/abs/rand | random: rho DoA/abs |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        nan2 = (math.nan, math.nan)
        rb, gb = r.get("rho_best", nan2), r.get("regret_best", (*nan2, math.nan))
        rr = r.get("rho_random", nan2)
        lines.append(
            f"| {r['table']} | {r['predictor']} | {r['n_archs']} | {r['sampling']} "
            f"| {r['rows1']:.0f} "
            f"| {' / '.join(_f(x, '.2f') for x in r['mae1'])} "
            f"| {' / '.join(_f(x, '.2f') for x in r['mae2'])} "
            f"| {_f(rb[0], '.2f')} / {_f(rb[1], '.2f')} "
            f"| {_f(gb[0], '.2f')} / {_f(gb[1], '.2f')} / {_f(gb[2], '.2f')} "
            f"| {_f(rr[0], '.2f')} / {_f(rr[1], '.2f')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--tables", default=",".join(DEFAULT_TABLES),
                    help="space[/dataset] list, comma separated")  # fmt: skip
    ap.add_argument("--predictors", default="mlp,ridge")
    ap.add_argument("--n-archs", default="50,200", help="training-set sizes")
    ap.add_argument("--samplings", default=",".join(SAMPLING_MODES))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--parents", type=int, default=20)
    ap.add_argument("--pairs", type=int, default=200, help="test pairs per distance and seed")
    ap.add_argument("--benchmark-dir", default=None)
    args = ap.parse_args(argv)

    rows: list[dict[str, Any]] = []
    for spec in _split(args.tables):
        space, _, dataset = spec.partition("/")
        table = load_objective_table(space, dataset or None, args.benchmark_dir)
        for predictor in _split(args.predictors):
            for n in (int(x) for x in _split(args.n_archs)):
                for sampling in _split(args.samplings):
                    cfg = default_config(
                        table,
                        predictor=predictor,
                        n_archs=n,
                        sampling=sampling,
                        pairs="anchored",
                        distances=(1, 2),
                        seeds=args.seeds,
                        held_out_pairs=args.pairs,
                        parents=args.parents,
                    )
                    diag = diagnose_doa(table, cfg)
                    row = summary_row(diag)
                    rows.append(row)
                    full = diag.to_json()
                    record = {
                        **_jsonable(row),
                        "seconds": diag.seconds,
                        "results": full["results"],
                        "ranking": full["neighbour_ranking"],
                    }
                    print(json.dumps(record), flush=True)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
