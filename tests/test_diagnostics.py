"""The DoA diagnostic: exact on an additive objective, sane on the benchmarks, deterministic."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from einnas.diagnostics import (
    DiagnosticError,
    DoADiagnosticConfig,
    default_config,
    diagnose_doa,
    format_diagnosis,
    kendall_tau,
    load_objective_table,
    spearman_rho,
)

SMALL = {"n_archs": 120, "seeds": 2, "held_out_pairs": 40}


def test_rank_correlations_by_hand() -> None:
    x = [1.0, 2.0, 3.0, 4.0]
    assert spearman_rho(x, [10.0, 20.0, 30.0, 40.0]) == pytest.approx(1.0)
    assert spearman_rho(x, [4.0, 3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert kendall_tau(x, [1.0, 3.0, 2.0, 4.0]) == pytest.approx(4 / 6)  # 5 concordant, 1 not
    assert math.isnan(spearman_rho(x, [1.0, 1.0, 1.0, 1.0]))
    assert math.isnan(kendall_tau(x, [2.0, 2.0, 2.0, 2.0]))
    # ties: average ranks (Spearman) and the tau-b correction
    assert spearman_rho([1.0, 2.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]) == pytest.approx(
        np.corrcoef([0, 1.5, 1.5, 3], [0, 1, 2, 3])[0, 1]
    )
    assert kendall_tau([1.0, 2.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]) == pytest.approx(
        5 / math.sqrt(5 * 6)
    )


def test_rank_correlations_match_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 8, 60).astype(float)  # many ties
    y = x + rng.normal(0, 2, 60).round()
    assert spearman_rho(x, y) == pytest.approx(stats.spearmanr(x, y)[0])
    assert kendall_tau(x, y) == pytest.approx(stats.kendalltau(x, y)[0])


def test_additive_objective_is_predicted_exactly_by_ridge() -> None:
    table = load_objective_table("synthetic", "8x3")
    diag = diagnose_doa(table, default_config(table, predictor="ridge", **SMALL))
    assert [r.distance for r in diag.rows] == [1, 2, 3, 4, 5, 6]
    assert diag.train_rows > 0 and all(r.pairs == 40 for r in diag.rows)
    spread = np.mean(np.abs(np.diff([table.value(table.space.sample(np.random.default_rng(i)))
                                     for i in range(200)])))  # fmt: skip
    d1 = diag.rows[0]
    assert d1.doa.mae < 0.02 * spread  # ~0: the additive model is exact (only ridge shrinkage)
    assert d1.doa.spearman > 0.99 and d1.doa.kendall > 0.95
    # additive: exact at every distance, for the absolute ridge too
    assert all(r.doa.mae < 0.05 * spread and r.absolute.mae < 0.05 * spread for r in diag.rows)


def test_interactions_make_error_grow_with_edit_distance() -> None:
    table = load_objective_table("synthetic", "8x3", interaction=1.0)
    diag = diagnose_doa(table, default_config(table, predictor="ridge", **SMALL))
    mae = [r.doa.mae for r in diag.rows]
    assert mae[0] < mae[2] < mae[5]
    assert "interaction=1" in diag.table


def test_same_config_same_numbers_and_json_shape() -> None:
    table = load_objective_table("synthetic", "6x4", interaction=0.5)
    cfg = default_config(table, predictor="mlp", n_archs=60, seeds=1, held_out_pairs=20,
                         distances=(1, 3), pairs="anchored")  # fmt: skip
    a, b = diagnose_doa(table, cfg).to_json(), diagnose_doa(table, cfg).to_json()
    a.pop("seconds"), b.pop("seconds")
    assert a == b
    assert [r["distance"] for r in a["results"]] == [1, 3]
    assert set(a["results"][0]["doa"]) == {
        "mae", "spearman", "kendall", "mae_std", "spearman_std", "kendall_std"
    }  # fmt: skip
    assert a["results"][0]["doa"]["mae_std"] is None  # one seed: no spread
    assert a["config"]["pairs"] == "anchored" and len(a["per_seed"]) == 1


def test_table_text() -> None:
    table = load_objective_table("synthetic", "5x3")
    diag = diagnose_doa(table, default_config(table, predictor="ridge", n_archs=60, seeds=2,
                                              held_out_pairs=10))  # fmt: skip
    text = format_diagnosis(diag)
    assert "DoA MAE" in text and "abs MAE" in text and "±" in text
    assert len(diag.rows) == 5  # distances stop at the number of slots


def test_clear_errors() -> None:
    big = load_objective_table("synthetic", "40x5")
    with pytest.raises(DiagnosticError, match="raise --radius or --n-archs"):
        diagnose_doa(big, default_config(big, n_archs=10, radius=1, seeds=1))
    small = load_objective_table("synthetic", "3x2")  # 8 architectures
    with pytest.raises(DiagnosticError, match="lower --n-archs"):
        diagnose_doa(small, default_config(small, n_archs=20, seeds=1))
    with pytest.raises(DiagnosticError, match="--predictor"):
        DoADiagnosticConfig(predictor="gp")
    with pytest.raises(DiagnosticError, match="--pairs"):
        DoADiagnosticConfig(pairs="both")
    with pytest.raises(ValueError, match="for the DoA diagnostic"):
        load_objective_table("nb999")


@pytest.mark.benchmark_data
@pytest.mark.parametrize("predictor", ["ridge", "mlp"])
def test_nb201_small_run(data_dir: Path, predictor: str) -> None:
    table = load_objective_table("nb201", "cifar10", data_dir)
    diag = diagnose_doa(table, default_config(table, predictor=predictor, n_archs=100, seeds=2,
                                              held_out_pairs=60))  # fmt: skip
    assert [r.distance for r in diag.rows] == [1, 2, 3, 4, 5, 6]
    for r in diag.rows:
        assert r.pairs == 60
        for m in (r.doa, r.absolute):
            assert math.isfinite(m.mae) and m.mae > 0 and -1 <= m.spearman <= 1
    assert diag.rows[0].train_rows > 0 and diag.rows[2].train_rows == 0  # radius 2
    # Fig. 3: error grows from one edit to many
    assert diag.rows[0].doa.mae < diag.rows[5].doa.mae


@pytest.mark.benchmark_data
def test_nb101_sample_defaults(data_dir: Path) -> None:
    table = load_objective_table("nb101-sample", None, data_dir)
    cfg = default_config(table, predictor="ridge", seeds=1, held_out_pairs=50)
    assert (cfg.radius, cfg.pairs, cfg.distances[0]) == (8, "anchored", 4)
    diag = diagnose_doa(table, cfg)
    assert diag.members == 200 and diag.num_slots == 26
    assert diag.rows[-1].pairs == 50  # plenty of pairs 12 edits apart
    assert diag.rows[0].pairs < 10  # ... and almost none 4 apart
