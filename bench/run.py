"""`make bench`: performance figures measured in one run on this machine (no timed assertions in tests).

Terminology: resolver inputs per second over 10,000 mixed inputs (names, brands, salts, combinations with
strengths, RxNorm codes of every term type, misspellings and unknowns).
"""
from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stewardship import knowledge  # noqa: E402
from stewardship.terminology import Resolver  # noqa: E402

TEXT_INPUTS = [
    "ibuprofen", "Ibuprofen 600 mg", "advil", "Norco 10/325", "Norco 5/325", "Percocet 5/325",
    "oxycodone HCl 5 mg tab", "hydrocodone/acetaminophen 5/325", "gabapentin 300 mg", "Neurontin",
    "duloxetine 60 mg capsule", "fentanyl 25 mcg/hr patch", "diclofenac 1% gel", "lidocaine 5% patch",
    "tramadol 50 mg", "OxyContin 10", "APAP 500 mg", "Tylenol", "ibuprofin", "gabapentine", "tramdol",
    "unicorn tears", "xyzzy 5 mg", "Eliquis 5 mg", "warfarin sodium 5 mg", "cyclobenzaprine 10 mg",
]


def mixed_inputs(kb: knowledge.KnowledgeBase, count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    codes = rng.sample(sorted(kb.products), 300) + [c.rxcui for c in kb.concepts.values()][:100] + ["316672"]
    pool = TEXT_INPUTS * 12 + codes
    return [rng.choice(pool) for _ in range(count)]


def bench_resolver(kb: knowledge.KnowledgeBase, count: int = 10_000, rounds: int = 5) -> None:
    resolver = Resolver(kb)
    inputs = mixed_inputs(kb, count)
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        for item in inputs:
            resolver.resolve(item)
        rates.append(count / (time.perf_counter() - started))
    print(f"resolver: {statistics.median(rates):,.0f} inputs/s (median of {rounds} rounds of {count:,} mixed "
          f"inputs; min {min(rates):,.0f}, max {max(rates):,.0f})")


def main() -> None:
    started = time.perf_counter()
    kb = knowledge.load()
    print(f"knowledge base: loaded and validated in {time.perf_counter() - started:.2f} s "
          f"({len(kb.ingredients)} ingredients, {len(kb.products)} products)")
    bench_resolver(kb)


if __name__ == "__main__":
    main()
