"""What the engine-vs-bare benches share: their common options and the studio they measure."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from engine import Settings, Studio

SCRATCH = Path(tempfile.gettempdir())


def parser(model: str, size: int = 512, steps: int = 20, repeats: int = 3,
           real_help: str = "use the real models instead of the demo ones") -> argparse.ArgumentParser:
    """Options every engine-vs-bare bench takes: --model, --size, --steps, --repeats, --real."""
    made = argparse.ArgumentParser()
    made.add_argument("--model", default=model)
    made.add_argument("--size", type=int, default=size)
    made.add_argument("--steps", type=int, default=steps)
    made.add_argument("--repeats", type=int, default=repeats)
    made.add_argument("--real", action="store_true", help=real_help)
    return made


def studio(real: bool = False, outputs: Path | None = None) -> Studio:
    """A studio on the demo models (offline), or on the real ones with `real`; a bench cache under the temp dir."""
    return Studio(Settings(cache_dir=SCRATCH / "studio-bench", outputs_dir=outputs), demo=not real, online=real)
