"""A sweep (X/Y/Z plot): one base request and up to three axes; every cell is the base with its axis values set
(`dataclasses.replace`), so a cell is exactly the request the base's own tab would run."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, ClassVar, Iterator

from engine.media.samplers import scheduler_from_a1111
from engine.pipeline.schedulers import SCHEDULER_NAMES
from engine.requests import GenerationRequest, Txt2ImgRequest
from engine.sweep.axes import AXIS_NAMES, KINDS, MAX_CELLS, Axis, bounded_count, cell_count
from engine.types import InputError

if TYPE_CHECKING:
    from engine.models.catalog import Catalog
    from engine.settings import Settings


@dataclass(frozen=True)
class SweepCell:
    """One cell: its place (x, y, z indexes into the axes' values) and the request it runs."""

    x: int
    y: int
    z: int
    request: GenerationRequest


@dataclass(frozen=True, kw_only=True)
class SweepRequest:
    """`base` run once per combination of the axes' values. `axes` are X, Y, Z in that order (None: unused)."""

    task: ClassVar[str] = "sweep"

    base: GenerationRequest = Txt2ImgRequest()
    axes: tuple[Axis | None, ...] = ()
    only: tuple[int, ...] = ()  # run only these cells (numbers in `cells()` order) and make no grid: workers run a
    # sweep's parts apart and the app makes the grids from their cells; empty: every cell, then the grids

    def axis(self, index: int) -> Axis | None:
        return self.axes[index] if index < len(self.axes) else None

    @property
    def shape(self) -> tuple[int, int, int]:
        """(columns, rows, grids): the X, Y and Z values' counts (1 for an unused axis)."""
        return tuple(len(a.values) if (a := self.axis(i)) else 1 for i in range(3))  # type: ignore[return-value]

    @property
    def count(self) -> int:
        return cell_count(list(self.axes))

    def problems(self, settings: Settings, catalog: Catalog | None = None) -> list[str]:
        """A sentence for each thing that stops the sweep: too many axes or cells, the base's own problems, and the
        first bad value of each axis (with what the base's check says of it)."""
        if not isinstance(self.base, GenerationRequest) or not isinstance(self.axes, tuple):
            return ["A sweep needs a base request and a tuple of axes."]
        if len(self.axes) > len(AXIS_NAMES) or not all(a is None or isinstance(a, Axis) for a in self.axes):
            return ["A sweep takes at most three axes (X, Y, Z)."]
        try:
            bounded_count(list(self.axes))
        except InputError as exc:
            return [exc.message]
        if not isinstance(self.only, tuple) or not all(
                isinstance(n, int) and not isinstance(n, bool) and 0 <= n < self.count for n in self.only):
            return [f"The cells to run must be cell numbers from 0 to {self.count - 1}."]
        found = list(self.base.problems(settings))
        if found:
            return found
        for index, axis in enumerate(self.axes):
            if axis is None:
                continue
            name = AXIS_NAMES[index]
            try:
                for value in axis.values:
                    wrong = apply(self.base, axis, value, catalog).problems(settings)
                    if wrong:
                        found.append(f"The {name} value {value!r} ({KINDS[axis.kind].label}) cannot run: {wrong[0]}")
                        break
            except InputError as exc:
                found.append(f"The {name} axis: {exc.message}")
        return found

    def check(self, settings: Settings, catalog: Catalog | None = None) -> None:
        found = self.problems(settings, catalog)
        if found:
            raise InputError(" ".join(found))

    def fixed(self) -> SweepRequest:
        """The same sweep with every random seed picked (the base's and a Seed axis's -1), so every cell and the
        grid's recipe say the seed they used."""
        base = self.base if self.base.seed >= 0 else replace(self.base, seed=secrets.randbelow(2**32))
        axes = tuple(replace(a, values=tuple(secrets.randbelow(2**32) if v == -1 else v for v in a.values))
                     if a is not None and a.kind == "Seed" else a for a in self.axes)
        return replace(self, base=base, axes=axes)

    def cells(self, catalog: Catalog | None = None) -> Iterator[SweepCell]:
        """Every cell in the order it runs: model by model when an axis sweeps models (each loads once), else Z,
        then Y, then X."""
        columns, rows, grids = self.shape
        places = [(x, y, z) for z in range(grids) for y in range(rows) for x in range(columns)]
        model_axis = next((i for i, a in enumerate(self.axes) if a is not None and KINDS[a.kind].loads_model), None)
        if model_axis is not None:
            places.sort(key=lambda place: place[model_axis])  # stable: Z, Y, X within one model
        for x, y, z in places:
            request = self.base
            for index, value_index in enumerate((x, y, z)):
                axis = self.axis(index)
                if axis is not None:
                    request = apply(request, axis, axis.values[value_index], catalog)
            yield SweepCell(x, y, z, request)


def first_model(request: SweepRequest) -> str:
    """The model of the first cell `request` runs (its base's when the axes cannot be read)."""
    try:
        cells = list(request.cells())
        return getattr(cells[request.only[0] if request.only else 0].request, "model", "")
    except (InputError, IndexError, ValueError, TypeError):
        return getattr(request.base, "model", "")


def apply(request: GenerationRequest, axis: Axis, value: object, catalog: Catalog | None = None) -> GenerationRequest:
    """`request` with `axis` set to `value`; InputError when the request has no such setting or the value is not
    one of its choices."""
    kind = KINDS[axis.kind]
    own = {item.name for item in fields(request)}
    if kind.name == "Prompt S/R":
        search = str(axis.values[0])
        if search not in request.prompt and search not in request.negative_prompt:
            raise InputError(f"Prompt S/R looks for its first value, {search!r}, and the prompt does not contain it. "
                             "Put that word in the prompt, then the words to try in its place.")
        return replace(request, prompt=request.prompt.replace(search, str(value)),
                       negative_prompt=request.negative_prompt.replace(search, str(value)))
    if kind.name == "Sampler":
        return replace(request, scheduler=_sampler(str(value)))
    if kind.name == "Styles":
        name = str(value)
        if catalog is not None and name.lower() != "none" and catalog.style(name) is None:
            raise InputError(f"there is no style preset called {name[:60]!r}.")
        return replace(request, style="" if name.lower() == "none" else name)
    if kind.name == "Size":
        width, height = (int(side) for side in str(value).lower().replace("×", "x").replace("*", "x").split("x"))
        return replace(request, width=width, height=height)
    if kind.name == "LoRA weight":
        if not request.loras:
            raise InputError("the LoRA weight axis needs a LoRA: add one in the settings, its weight is swept.")
        return replace(request, loras=tuple((name, float(value)) for name, _ in request.loras))
    if kind.name == "Seed":
        return replace(request, seed=int(value))
    if kind.field not in own:
        needs = {"strength": "your image (Start from: Your image)",
                 "controlnet_scale": "a ControlNet condition (Start from: A sketch or lines)",
                 "hires_scale": "text to image (Start from: A prompt)"}.get(kind.field, kind.field)
        raise InputError(f"{kind.label} needs a sweep that starts from {needs}.")
    return replace(request, **{kind.field: value})


def _sampler(name: str) -> str:
    """Our scheduler for a sampler name as we or A1111 write it; InputError when neither knows it."""
    for ours in SCHEDULER_NAMES:
        if ours.lower() == name.strip().lower():
            return ours
    ours, _ = scheduler_from_a1111(name, None)
    if ours == "Default":
        raise InputError(f"the sampler {name[:40]!r} is not available; choose one of {', '.join(SCHEDULER_NAMES)}.")
    return ours


__all__ = ["MAX_CELLS", "SweepCell", "SweepRequest", "apply", "first_model"]
