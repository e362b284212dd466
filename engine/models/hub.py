"""Is the Hugging Face Hub reachable, and are the catalog's models already in the local cache?"""

from __future__ import annotations

import os
import socket

from engine.models.catalog import Catalog

HUB_HOST = "huggingface.co"


def hub_reachable(timeout: float = 1.5) -> bool:
    """True when a TCP connection to the Hub opens within `timeout` seconds (False when HF_HUB_OFFLINE is set)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return False
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def cached_models(catalog: Catalog) -> list[str]:
    """Ids of catalog models whose model_index.json is in the local Hub cache."""
    from huggingface_hub import try_to_load_from_cache

    found = []
    for spec in catalog.models:
        if isinstance(try_to_load_from_cache(spec.id, "model_index.json"), str):
            found.append(spec.id)
    return found


def decide_demo(requested: bool | None, catalog: Catalog) -> tuple[bool, bool, str]:
    """(demo, online, reason): demo when asked for, or when the Hub is unreachable and nothing is cached."""
    if requested:
        return True, False, "Started with --demo."
    online = hub_reachable()
    if requested is not None:
        return False, online, ""
    if online or cached_models(catalog):
        return False, online, ""
    return True, online, ("The Hugging Face Hub cannot be reached and no model is cached, so the demo models "
                          "were started automatically. Connect to the internet and restart to use real models.")
