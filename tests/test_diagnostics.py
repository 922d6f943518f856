"""The DoA diagnostic: exact on an additive objective, sane on the benchmarks, deterministic."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from einnas.diagnostics import (
    DiagnosticError,
    DoADiagnosticConfig,
    ObjectiveTable,
    default_config,
    diagnose_doa,
    draw_training_set,
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
    assert all(r.no_change_mae > 10 * r.doa.mae for r in diag.rows)  # predicting 0 is far off


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


def _one_edit_from_earlier(archs: list[tuple[int, ...]], starts: int) -> bool:
    codes = np.asarray(archs)
    return all(
        np.any(np.count_nonzero(codes[:i] != codes[i], axis=1) == 1)
        for i in range(starts, len(archs))
    )


@pytest.mark.parametrize("sampling", ["walk", "evolution"])
def test_grown_training_sets_are_single_edit_forests(sampling: str) -> None:
    table = load_objective_table("synthetic", "10x4", interaction=0.5)
    cfg = default_config(table, sampling=sampling, n_archs=80, starts=5)
    archs, ids = draw_training_set(table, cfg, np.random.default_rng(3))
    assert len(archs) == 80 and len(set(ids)) == 80
    assert _one_edit_from_earlier(archs, 5)
    again, _ = draw_training_set(table, cfg, np.random.default_rng(3))
    assert again == archs  # same generator seed, same set
    # the random roots are the random rule's first draws
    rand, _ = draw_training_set(table, default_config(table, n_archs=5), np.random.default_rng(3))
    assert archs[:5] == rand
    # random cells of 10 slots are rarely one edit apart
    uniform, _ = draw_training_set(
        table, default_config(table, n_archs=80), np.random.default_rng(3)
    )
    assert not _one_edit_from_earlier(uniform, 5)


def test_evolution_climbs_and_walk_with_all_roots_is_random() -> None:
    table = load_objective_table("synthetic", "10x4")
    cfg = default_config(table, sampling="evolution", n_archs=100, starts=10, tournament=5)
    archs, _ = draw_training_set(table, cfg, np.random.default_rng(0))
    values = [table.value(a) for a in archs]
    assert np.mean(values[-30:]) > max(values[:10])  # past the best random cell
    walk = default_config(table, sampling="walk", n_archs=30, starts=30)
    rand = default_config(table, n_archs=30)
    assert (
        draw_training_set(table, walk, np.random.default_rng(1))
        == draw_training_set(table, rand, np.random.default_rng(1))
    )  # fmt: skip


def test_walk_diagnosis_is_dense_and_ranks_neighbours_exactly_on_an_additive_objective() -> None:
    table = load_objective_table("synthetic", "8x3")
    cfg = default_config(table, predictor="ridge", sampling="walk", n_archs=60, seeds=2,
                         held_out_pairs=30, distances=(1, 2, 3), parents=10)  # fmt: skip
    assert cfg.pairs == "anchored" and cfg.starts == 10  # the defaults of a grown set
    diag = diagnose_doa(table, cfg)
    # every walked cell is one edit from an earlier one: at least 2 (n - starts) rows at d = 1
    assert diag.rows[0].train_rows >= 2 * (60 - 10)
    assert [g.group for g in diag.ranking] == ["random", "best"]
    for g in diag.ranking:
        assert g.parents == 10 and 3 <= g.neighbours <= 16  # 8 slots x 2 other values
        assert g.doa.spearman > 0.9 and g.doa.regret < 0.01 < g.random_regret
    text = format_diagnosis(diag)
    assert "single-edit walks from 10 random roots" in text and "neighbour ranking" in text
    data = diag.to_json()
    assert data["config"]["sampling"] == "walk"
    assert [r["group"] for r in data["neighbour_ranking"]] == ["random", "best"]
    assert set(data["per_seed"][0]["neighbour_ranking"][0]) >= {"doa_spearman", "abs_regret"}


def test_ranking_can_be_skipped_and_random_sampling_keeps_held_out_pairs() -> None:
    table = load_objective_table("synthetic", "6x3")
    cfg = default_config(table, predictor="ridge", n_archs=40, seeds=1, held_out_pairs=10,
                         parents=0)  # fmt: skip
    assert cfg.pairs == "held-out" and cfg.sampling == "random"
    diag = diagnose_doa(table, cfg)
    assert diag.ranking == [] and "neighbour ranking" not in format_diagnosis(diag)
    assert default_config(table, sampling="evolution", pairs="held-out").pairs == "held-out"


def test_sampling_errors() -> None:
    with pytest.raises(DiagnosticError, match="--sampling must be"):
        DoADiagnosticConfig(sampling="bayes")
    with pytest.raises(DiagnosticError, match="--starts must be between 1 and --n-archs"):
        DoADiagnosticConfig(n_archs=20, starts=30, sampling="walk")
    with pytest.raises(DiagnosticError, match="--tournament"):
        DoADiagnosticConfig(tournament=0)
    with pytest.raises(DiagnosticError, match="--parents"):
        DoADiagnosticConfig(parents=-1)
    table = load_objective_table("synthetic", "4x3")
    listed = ObjectiveTable("listed", table.space, table.value, tuple(table.space.all_archs()))
    with pytest.raises(DiagnosticError, match="use --sampling random"):
        diagnose_doa(listed, default_config(listed, sampling="walk", n_archs=20, seeds=1))
    tiny = load_objective_table("synthetic", "3x2")  # 8 architectures
    with pytest.raises(DiagnosticError, match="reached only 8 distinct"):
        diagnose_doa(tiny, default_config(tiny, sampling="walk", n_archs=9, starts=2, seeds=1))


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


@pytest.mark.benchmark_data
def test_nb201_walk_with_neighbour_ranking(data_dir: Path) -> None:
    table = load_objective_table("nb201", "cifar10", data_dir)
    cfg = default_config(table, predictor="ridge", sampling="walk", n_archs=50, seeds=1,
                         held_out_pairs=30, distances=(1, 2), parents=10)  # fmt: skip
    diag = diagnose_doa(table, cfg)
    assert diag.rows[0].pairs == 30 and diag.rows[0].train_rows >= 2 * (50 - 10)
    for g in diag.ranking:
        assert g.parents == 10 and 3 <= g.neighbours <= 24  # 6 edges x 4 other operations
        for m in (g.doa, g.absolute):
            assert -1 <= m.spearman <= 1 and 0 <= m.regret <= g.random_regret * 3
