"""Diffusion Studio: a browser studio for diffusion image generation. `python app.py --help` for options."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
from dataclasses import replace
from pathlib import Path

from engine import Catalog, Settings, Studio, load_catalog, load_settings
from engine.models.hub import decide_demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Diffusion Studio web app")
    parser.add_argument("--host", help="interface to listen on (default 127.0.0.1; 0.0.0.0 on a Space)")
    parser.add_argument("--port", type=int, help="port (default 7860)")
    parser.add_argument("--demo", action="store_true", default=None,
                        help="serve tiny random-weight models built in code (no downloads)")
    parser.add_argument("--outputs", help="folder for saved PNGs ('off' to keep nothing on disk)")
    parser.add_argument("--hosted", action="store_true", default=None,
                        help="public server: local model paths only inside STUDIO_MODEL_DIRS (automatic on a Space)")
    parser.add_argument("--allow-pickle", action="store_true", default=None,
                        help="allow .ckpt/.pt checkpoints (loading a pickle can run code: trusted files only)")
    parser.add_argument("--queue-size", type=int, help="jobs that may wait (default 64); more are told to retry")
    parser.add_argument("--concurrency", type=int, help="generation jobs running at once (default 1)")
    parser.add_argument("--workers", type=int, help="generate on N Ray Serve workers, one per GPU (needs "
                                                    "requirements-workers.txt; default 0: in this process)")
    parser.add_argument("--min-workers", type=int, help="autoscaling: fewest workers (default: --workers)")
    parser.add_argument("--max-workers", type=int, help="autoscaling: most workers (default: --workers)")
    parser.add_argument("--ray-address", help="'auto': use the Ray cluster this machine is a node of")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings: environment variables, then command-line flags (which win)."""
    settings = load_settings().with_overrides(host=args.host, port=args.port, demo=args.demo, hosted=args.hosted,
                                              allow_pickle=args.allow_pickle, queue_size=args.queue_size,
                                              concurrency=args.concurrency, workers=args.workers,
                                              workers_min=args.min_workers, workers_max=args.max_workers,
                                              ray_address=args.ray_address)
    if settings.uses_workers:  # Gradio lets as many runs through as there are workers; Serve queues the rest
        most = max(settings.workers_max, settings.workers) or 16  # a cluster's size: known once joined
        settings = replace(settings, concurrency=max(settings.concurrency, min(most, 64)))
    if args.outputs is not None:
        off = args.outputs.strip().lower() in {"", "off", "none"}
        settings = replace(settings, outputs_dir=None if off else Path(args.outputs))
    elif args.hosted and os.environ.get("STUDIO_OUTPUTS") is None:  # public: keep nothing unless asked to
        settings = replace(settings, outputs_dir=None)
    return settings


WARM_UP_AFTER = 20.0  # seconds after start-up, when no visitor has opened the page yet


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's per-thread malloc arenas: Gradio serves each request on a pool thread, and with the default
    (8 per core) every new thread's arena keeps freed memory, so a server's memory creeps up with visitors."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass  # not glibc (macOS, Windows): nothing to cap


def stop_as_ctrl_c() -> None:
    """SIGTERM (docker stop, systemd, `timeout`) stops the app as Ctrl+C does: the server closes, then the studio,
    and the process exits 0. The first of them wins: later ones are ignored rather than breaking the close halfway.
    Without this, a Ray driver's own SIGTERM handler (sys.exit in whatever code ran) skipped Gradio's close and left
    Ray to shut down at interpreter teardown, which aborted the process (exit status -6)."""
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread sets signal handlers (main() called from a script's thread: nothing to do)

    def stop(signum: int, frame: object) -> None:
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)  # stopping: a second signal waits for the close
        raise KeyboardInterrupt

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, stop)  # after the workers started: replaces the handlers Ray installed


STOPPED_STARTING = "Stopped while Ray was starting the GPU workers; Ray is shut down."


def start_workers(settings: Settings, demo: bool, online: bool, catalog: Catalog) -> Studio | None:
    """The studio generating on Ray Serve workers (Ray is imported only here, never for the embedded default). None
    when a stop (Ctrl+C, SIGTERM) came while Ray was starting: what had started is shut down, and one line says so."""
    from engine.workers.cluster import WorkerSetupError

    stop_as_ctrl_c()  # a stop is a KeyboardInterrupt until Ray's start puts in its own SIGTERM handler (sys.exit)
    try:
        from engine.workers.studio import WorkerStudio

        return WorkerStudio(settings, demo=demo, online=online, catalog=catalog)
    except WorkerSetupError as exc:
        raise SystemExit(exc.message) from None
    except (KeyboardInterrupt, SystemExit) as exc:
        if isinstance(exc, SystemExit) and exc.code != signal.SIGTERM:  # Ray's handler exits with the signal
            raise
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)  # stopping: a second signal waits for the exit
        print(STOPPED_STARTING, flush=True)
        return None


def main(argv: list[str] | None = None) -> None:
    limit_malloc_arenas()
    args = parse_args(argv)
    # A closed tab is noticed at the next heartbeat, which then stops its runs (app.unload): 5 s, not Gradio's 15.
    os.environ.setdefault("GRADIO_HEARTBEAT_INTERVAL", "5")
    settings = settings_from(args)
    catalog = load_catalog()
    decision: list[tuple[bool, bool, str]] = []
    probe = threading.Thread(target=lambda: decision.append(decide_demo(settings.demo, catalog)), daemon=True)
    probe.start()  # the Hub check overlaps the slow gradio import below

    from ui.layout import build_app, launch

    probe.join()
    demo, online, reason = decision[0]

    if settings.uses_workers:
        studio: Studio | None = start_workers(settings, demo, online, catalog)
        if studio is None:
            return
    else:
        studio = Studio(settings, demo=demo, online=online, catalog=catalog)
    stop_as_ctrl_c()  # (again: Ray's start replaced the SIGTERM handler)
    # Gradio's own temporary files (uploads, copies of results) go inside the scratch folder, pruned and bounded
    # with it (STUDIO_MAX_SCRATCH_MB) and deleted on exit; every component reads this when it is made.
    os.environ["GRADIO_TEMP_DIR"] = str(studio.outputs.web_cache)
    app = None
    try:
        app = build_app(studio, reason)
        launch(app, studio)
        # Warm up once the first visitor's page is up (ui/layout.py), or after WARM_UP_AFTER seconds with no
        # visitor: importing torch/diffusers takes the CPU for seconds, and the page must be usable as soon as served.
        timer = threading.Timer(WARM_UP_AFTER, studio.warm_up_in_background)
        timer.daemon = True
        timer.start()
        app.block_thread()
    except KeyboardInterrupt:  # a stop while the page was built or the server started (block_thread handles later)
        if app is not None:
            with contextlib.suppress(Exception):
                app.close()
    finally:
        studio.close()  # Ctrl+C during a run: stop it within a step instead of waiting for it to finish


if __name__ == "__main__":
    main()
