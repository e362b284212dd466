"""Reference images (IP-Adapter): what a request may ask for, checked without loading anything.

A request's `reference_images` is a tuple of (image, role, weight) items: the image (a PIL image or a file path),
its role ("style": colours, texture, mood through InstantStyle's style block only, so the reference's layout does not
leak in; "composition": the layout block only; "both": every block, the plain IP-Adapter) and its weight (the
adapter's scale on those blocks; 0 = not used)."""

from __future__ import annotations

from typing import Any

ROLES = ("style", "composition", "both")
ROLE_LABELS = {"style": "Style (colours, texture, mood)", "composition": "Composition (layout)",
               "both": "Both (the whole image)"}
MAX_REFERENCES = 4
WEIGHT_LOW, WEIGHT_HIGH, WEIGHT_DEFAULT = 0.0, 2.0, 0.8
WEIGHT_HELP = "How strongly this image steers the result (the IP-Adapter scale): 0.5–1 is usual, 0 ignores it."

Reference = tuple[Any, str, float]  # (image, role, weight)


def reference_problems(items: Any) -> list[str]:
    """A sentence for each reference image that cannot be used (count, role, weight); empty when all can."""
    if not isinstance(items, (tuple, list)):
        return ["Reference images must be a list of (image, role, weight) items."]
    found = []
    if len(items) > MAX_REFERENCES:
        found.append(f"At most {MAX_REFERENCES} reference images can guide one run; {len(items)} were given. "
                     "Remove some.")
    for number, item in enumerate(items[:MAX_REFERENCES + 1], 1):
        if not isinstance(item, (tuple, list)) or len(item) != 3:
            found.append(f"Reference image {number} must be an (image, role, weight) item.")
            continue
        image, role, weight = item
        if image is None or (isinstance(image, str) and not image.strip()):
            found.append(f"Reference image {number} has no image: drop one in, or remove it.")
        if role not in ROLES:
            found.append(f"Reference image {number}'s role must be one of {', '.join(ROLES)}, got {str(role)[:20]!r}.")
        number_ok = isinstance(weight, (int, float)) and not isinstance(weight, bool)
        if not (number_ok and WEIGHT_LOW <= weight <= WEIGHT_HIGH):
            found.append(f"Reference image {number}'s weight must be between {WEIGHT_LOW:g} and {WEIGHT_HIGH:g}, "
                         f"got {weight!r}.")
    return found


def used(items: Any) -> tuple[Reference, ...]:
    """The references that steer a run (weight above 0): a weight of 0 is the same as no reference."""
    return tuple(item for item in items or () if float(item[2]) > 0)
