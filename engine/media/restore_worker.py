"""Read a PNG's recipe in a child process with a time and a memory budget: a hostile file can neither starve the
server (the child has its own interpreter, at a lower CPU priority) nor outlive its budget or its visitor (the child
is killed). The reading itself is bounded before any parsing too (engine/media/png_text.py, other_tools.py)."""

from __future__ import annotations

import os
import pickle
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from engine.media.recipe import LoadedRecipe, read_recipe
from engine.types import Cancelled, InputError

MAX_CHILDREN = 2  # restores read at once; more wait for a turn (up to STARTUP_SECONDS)
_POLL = 0.02  # seconds between looks at the child, the clock and the visitor
STARTUP_SECONDS = 30.0  # a child that has not started by then (a machine out of memory or processes) gives up
READY = b"R"  # the child's first byte: started, reading now
NICENESS = 10  # the child's CPU priority, from before its imports: the server's own threads come first
_CHILD = (f"import os; os.nice({NICENESS}); import runpy; "
          "runpy.run_module('engine.media.restore_worker', run_name='__main__', alter_sys=True)")
_ROOT = Path(__file__).resolve().parents[2]
_slots = threading.BoundedSemaphore(MAX_CHILDREN)


def read_recipe_bounded(path: str | Path, seconds: float, memory_mb: int,
                        gone: Callable[[], bool] | None = None) -> LoadedRecipe:
    """`read_recipe(path)` in a child process killed when its reading takes over `seconds` or `memory_mb` MB
    (InputError saying so), or as soon as `gone()` says the visitor left (Cancelled). The child's start (~0.4 s)
    is not counted. Runs in this process where no child can start."""
    if os.name == "nt":  # no select() on pipes: bounded by the readers' own limits only
        return read_recipe(path)
    if not _slots.acquire(timeout=STARTUP_SECONDS):
        raise _too_slow(seconds)
    try:
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")])}
        try:
            child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path), str(memory_mb)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=environment)
        except OSError:
            return read_recipe(path)
        try:
            return _answer(_wait(child, seconds, gone), seconds, memory_mb)
        finally:
            if child.poll() is None:
                child.kill()
            child.communicate()
    finally:
        _slots.release()


def _wait(child: subprocess.Popen, seconds: float, gone: Callable[[], bool] | None) -> tuple[str, object]:
    """What the child answered: ("ok", LoadedRecipe), ("input", sentence), ("memory", ""), or ("time", "") when
    its reading (from the READY byte it sends once started) ran out of time."""
    assert child.stdout is not None
    out = child.stdout.fileno()
    received = bytearray()
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if select.select([out], [], [], _POLL)[0]:
            block = os.read(out, 1 << 16)
            if not block:
                break  # the child is done (or died)
            if not received and block[:1] == READY:
                deadline = time.monotonic() + seconds  # the reading starts now
            received += block
        elif time.monotonic() > deadline:
            return "time", ""
        if gone is not None and gone():
            raise Cancelled()
    try:
        return pickle.loads(bytes(received[1:]))  # noqa: S301 - our own child's answer
    except Exception:  # noqa: BLE001 - no answer: the child died (its memory limit) before it could give one
        return "memory", ""


def _answer(answer: tuple[str, object], seconds: float, memory_mb: int) -> LoadedRecipe:
    kind, value = answer
    if kind == "ok" and isinstance(value, LoadedRecipe):
        return value
    if kind == "input":
        raise InputError(str(value))
    if kind == "time":
        raise _too_slow(seconds)
    raise InputError(f"Reading this PNG's settings needed more than {memory_mb} MB of memory: its metadata is too "
                     "large to restore here. Set the values by hand, or drop another image.")


def _too_slow(seconds: float) -> InputError:
    return InputError(f"Reading this PNG's settings took longer than {seconds:g} s: its metadata is too large or too "
                      "complex to restore here. Set the values by hand, or drop another image.")


def _read_in_child(path: str, memory_mb: int) -> tuple[str, object]:
    """The child's one reading, with its address space capped."""
    try:
        _cap_memory(memory_mb)
        return "ok", read_recipe(path)
    except InputError as exc:
        return "input", exc.message
    except MemoryError:
        return "memory", ""
    except Exception as exc:  # noqa: BLE001 - any other failure is a file this app cannot read
        return "input", (f"The PNG could not be read ({type(exc).__name__}). Set the values by hand, or drop another "
                         "image.")
def _cap_memory(memory_mb: int) -> None:
    """Limit the child's address space to what it has now plus `memory_mb` (where the system supports it)."""
    try:
        import resource

        with open("/proc/self/statm") as statm:
            now = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = now + memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.stdout.buffer.write(READY)
    sys.stdout.buffer.flush()
    sys.stdout.buffer.write(pickle.dumps(_read_in_child(sys.argv[1], int(sys.argv[2]))))
