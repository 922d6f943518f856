"""Speed and validity of einspace sampling and mutation.

Samples ``n`` trees, mutates each once, and times both per call; then compiles ``--check`` of
the samples and of the mutants (evenly spread), runs a forward pass on a random batch of 2 and
compares the output shape and the parameter count with the analytic ones.  Every checked tree
that fails to compile or disagrees counts as ``invalid`` (it must be 0).

Usage::

    python benchmarks/space_speed.py --input-shape 3,28,28 -n 10000
    python benchmarks/space_speed.py --space einspace1d --input-shape 1,40 -n 10000

Human-readable lines first; the last stdout line is one JSON object with ``sample_p50_ms``,
``sample_p99_ms``, ``sample_max_ms``, ``samples_per_s``, ``mutate_p50_ms``, ``mutate_p99_ms``,
``invalid``, ``n``, ``checked``, ``space``, ``input_shape``, ``median_nodes`` and ``max_nodes``
(and a few more).  Targets (2 cores): per-sample p99 < 50 ms and max < 1000 ms, per-mutation
p99 < 50 ms, ``invalid == 0``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
from tqdm import tqdm

from einnas.grammar import (
    Budget,
    Grammar,
    InvalidArchitecture,
    Module,
    analyze,
    input_feature,
    mutate_tree,
    network_params,
    parse_shape,
    sample_tree,
    to_text,
)

SPACES = {"einspace": (3, 28, 28), "einspace1d": (1, 40)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--space", choices=sorted(SPACES), default="einspace")
    ap.add_argument(
        "--input-shape",
        default=None,
        help="C,H,W for einspace, C,L for einspace1d (default 3,28,28 / 1,40)",
    )
    ap.add_argument("-n", type=int, default=10_000, help="number of samples (each is mutated once)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--check",
        type=int,
        default=None,
        help="compile and run this many samples and as many mutants "
        "(default: all when n <= 2000, else 1000)",
    )
    ap.add_argument("--num-classes", type=int, default=10)
    ap.add_argument("--torch-threads", type=int, default=1, help="torch threads for the checks")
    args = ap.parse_args(argv)
    shape = parse_shape(args.input_shape) if args.input_shape else SPACES[args.space]
    want_rank = len(SPACES[args.space])
    if len(shape) != want_rank:
        ap.error(f"--space {args.space} needs a {want_rank}-dimensional --input-shape, got {shape}")
    if args.n < 1:
        ap.error("-n must be >= 1")
    args.shape = shape
    if args.check is None:
        args.check = args.n if args.n <= 2000 else 1000
    args.check = max(0, min(args.check, args.n))
    return args


def spread(n: int, k: int) -> list[int]:
    """``k`` indices evenly spread over ``range(n)``."""
    if k <= 0:
        return []
    return sorted({int(i) for i in np.linspace(0, n - 1, k).round()})


def check_tree(tree: Module, shape: tuple[int, ...], num_classes: int) -> str | None:
    """Why ``tree`` fails (compile, forward shape, parameter count), or ``None`` if it is fine."""
    import torch

    from einnas.nn.compile import compile_network

    try:
        a = analyze(tree, shape)
        net = compile_network(tree, shape, num_classes)
        got = sum(p.numel() for p in net.parameters())
        want = network_params(a, num_classes)
        if got != want:
            return f"parameter count {got} != inferred {want}"
        x = torch.randn(2, *shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            y = net.backbone(x)
            logits = net.head(y)
        if tuple(y.shape) != (2, *a.output.shape):
            return f"backbone output {tuple(y.shape)} != inferred {(2, *a.output.shape)}"
        if tuple(logits.shape) != (2, num_classes):
            return f"logits {tuple(logits.shape)} != {(2, num_classes)}"
    except Exception as e:  # any failure to build or run counts as invalid
        return f"{type(e).__name__}: {e}"
    return None


def percentiles_ms(seconds: list[float]) -> tuple[float, float, float]:
    ms = np.asarray(seconds) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), float(ms.max())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    shape: tuple[int, ...] = args.shape
    grammar = Grammar.for_input(shape)
    x = input_feature(shape)
    budget = Budget()
    root = np.random.SeedSequence(args.seed)
    sample_rng, mutate_rng = (np.random.default_rng(s) for s in root.spawn(2))

    # -- sampling and mutation ------------------------------------------------------------------
    # Each tree is mutated right after it is sampled (from its own RNG stream, so the samples do
    # not depend on the mutations); only the trees picked for the checks are kept, so that the
    # timings are not inflated by the garbage collector scanning thousands of retained trees.
    picks = spread(args.n, args.check)
    picked = set(picks)
    kept: dict[int, tuple[Module, Module]] = {}
    sample_s: list[float] = []
    mutate_s: list[float] = []
    nodes: list[int] = []
    valid = 0
    unchanged = 0
    clock = time.perf_counter
    for i in tqdm(range(args.n), desc="sample+mutate", file=sys.stderr, mininterval=0.5):
        t0 = clock()
        tree = sample_tree(grammar, x, sample_rng, budget)
        t1 = clock()
        child, _ = mutate_tree(tree, x, grammar, mutate_rng, budget)
        t2 = clock()
        sample_s.append(t1 - t0)
        mutate_s.append(t2 - t1)
        unchanged += child == tree
        try:
            a = analyze(tree, shape)
        except InvalidArchitecture:
            pass
        else:
            valid += not budget.violations(a)
            nodes.append(a.n_nodes)
        if i in picked:
            kept[i] = (tree, child)

    # -- compile + forward checks ---------------------------------------------------------------
    invalid = 0
    failures: list[str] = []
    check_time = 0.0
    if picks:
        import torch

        torch.set_num_threads(args.torch_threads)
        jobs = [("sample", i, kept[i][0]) for i in picks] + [
            ("mutant", i, kept[i][1]) for i in picks
        ]
        t0 = clock()
        for kind, i, tree in tqdm(jobs, desc="check", file=sys.stderr, mininterval=0.5):
            why = check_tree(tree, shape, args.num_classes)
            if why is not None:
                invalid += 1
                failures.append(f"{kind} {i}: {why}\n    {to_text(tree)}")
        check_time = clock() - t0

    s50, s99, smax = percentiles_ms(sample_s)
    m50, m99, mmax = percentiles_ms(mutate_s)
    result: dict[str, Any] = {
        "space": args.space,
        "input_shape": list(shape),
        "n": args.n,
        "seed": args.seed,
        "sample_p50_ms": round(s50, 4),
        "sample_p99_ms": round(s99, 4),
        "sample_max_ms": round(smax, 4),
        "samples_per_s": round(valid / sum(sample_s), 1),
        "mutate_p50_ms": round(m50, 4),
        "mutate_p99_ms": round(m99, 4),
        "mutate_max_ms": round(mmax, 4),
        "checked": 2 * len(picks),
        "invalid": invalid,
        "invalid_analysis": args.n - valid,  # all n samples: analyze() fails or over budget
        "unchanged_mutants": unchanged,  # all n mutants: child == parent
        "median_nodes": float(np.median(nodes)) if nodes else 0.0,
        "max_nodes": int(max(nodes)) if nodes else 0,
        "check_s": round(check_time, 2),
    }
    for f in failures[:20]:
        print("INVALID", f, file=sys.stderr)
    print(
        f"{args.space} {'x'.join(map(str, shape))}: {args.n} samples "
        f"(p50 {s50:.3f} ms, p99 {s99:.3f} ms, max {smax:.1f} ms, {result['samples_per_s']} valid/s), "
        f"mutation p50 {m50:.3f} ms, p99 {m99:.3f} ms; "
        f"{result['checked']} compiled and run, {invalid} invalid"
    )
    targets = {
        "sample p99 < 50 ms": s99 < 50,
        "sample max < 1000 ms": smax < 1000,
        "mutation p99 < 50 ms": m99 < 50,
        "invalid == 0": invalid == 0 and valid == args.n and unchanged == 0,
    }
    print("targets: " + ", ".join(f"{k}: {'ok' if ok else 'MISSED'}" for k, ok in targets.items()))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
