"""Wildcard expansion (engine/prompts/wildcards.py, through dynamicprompts): a template of 1,000 combinations —
three 10-way choices, one of them a word list — expanded whole ("every combination"), and 1,000 seed-chosen
picks; target <= 50 ms for the 1,000 combinations. Also a hostile template's refusal time.

Usage: python bench/bench_wildcards.py [--repeats 9] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import InputError  # noqa: E402
from engine.prompts.wildcards import WordLists, combinations, pick, picks  # noqa: E402

TEMPLATE = ("a {red|blue|green|black|white|ivory|navy|olive|rust|teal} __cloth__ "
            "{dress|coat|skirt|jacket|shirt|trousers|scarf|gown|blouse|cape}, studio light")
CLOTH = "linen\nsilk\ndenim\nwool\ncotton\nvelvet\nsatin\ntweed\nlace\nleather\n"
HOSTILE = " ".join("{a|b|c|d|e|f|g|h|i|j}" for _ in range(40))  # 10^40 combinations (40 choices: the most taken)


def timed(work, repeats: int) -> str:
    """Median milliseconds of `work(i)` over `repeats` runs (after one warm-up): wall clock, and this process's CPU
    time (what a busy shared machine inflates least)."""
    work(-1)
    walls, cpus = [], []
    for index in range(repeats):
        started, cpu = time.perf_counter(), time.process_time()
        work(index)
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return f"{statistics.median(walls):.1f} ms (CPU {statistics.median(cpus):.1f} ms)"


def main(argv: list[str] | None = None) -> None:
    made = argparse.ArgumentParser()
    made.add_argument("--repeats", type=int, default=9)
    made.add_argument("--smoke", action="store_true", help="one repeat")
    args = made.parse_args(argv)
    repeats = 1 if args.smoke else args.repeats
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "cloth.txt").write_text(CLOTH)
        lists = WordLists((Path(folder),))
        made_all = combinations(TEMPLATE, 1000, lists)
        assert len(made_all) == 1000 and len(set(made_all)) == 1000, len(made_all)
        # a new template text each time (a number in it), so its parse is timed too, never a cached one
        every = timed(lambda i: combinations(f"{TEMPLATE} {i}", 1000, lists), repeats)
        parsed_once = timed(lambda i: combinations(TEMPLATE, 1000, lists), repeats)  # a run's later expansions
        chosen = timed(lambda i: picks(f"{TEMPLATE} {i}", list(range(1000)), lists), repeats)

        def hostile(_: int) -> None:
            assert len(combinations(f"{HOSTILE} {_}", 1000, lists)) == 1001  # capped, never walked
            for refused in ("{" * 500 + "a" + "}" * 500, "{a|b} " * 500, "__missing__"):
                try:
                    pick(refused, 1, lists)
                except InputError:
                    pass
                else:
                    raise AssertionError(f"not refused: {refused[:40]}")

        refused = timed(hostile, repeats)
    print(f"every combination (1,000 prompts): {every} with the template's parse, {parsed_once} parsed already "
          "(target <= 50 ms)")
    print(f"1,000 seed-chosen picks: {chosen}")
    print(f"hostile templates (10^40 combinations capped at 1,001; 500-deep nesting, 500 choices, a missing list "
          f"refused): {refused}")


if __name__ == "__main__":
    main()
