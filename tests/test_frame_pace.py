"""A run's frames to the page are paced: a tiny model's hundreds of steps a second once froze a busy page."""

from __future__ import annotations

import time

from PIL import Image

from engine import Cell, Failed, Finished, Preview, Progress, Result
from ui.frames import Pace


def test_previews_and_step_counts_are_paced_per_image_and_nothing_else_is() -> None:
    pace = Pace(gap=60.0)  # nothing of the same kind within a minute
    picture = Image.new("RGB", (8, 8))
    assert pace.due(Preview(picture, 1, 999)) and not pace.due(Preview(picture, 2, 999))
    assert pace.due(Progress(1, 999, 0.1, None)) and not pace.due(Progress(2, 999, 0.2, None))
    assert pace.due(Preview(picture, 2, 999, image_index=1))  # another image of the batch has its own pace
    assert pace.due(Cell(0, 1, Preview(picture, 2, 999))) and not pace.due(Cell(0, 1, Preview(picture, 3, 999)))
    assert pace.due(Cell(0, 2, Preview(picture, 3, 999)))  # and each comparison cell
    # Always sent: a stage's message, the last step, results, failures, the end.
    assert pace.due(Progress(3, 999, 0.3, None, "Loading the model")) and pace.due(Progress(999, 999, 9.0, None))
    assert pace.due(Result(None)) and pace.due(Failed("no", "input")) and pace.due(Finished())


def test_a_preview_after_the_gap_is_sent() -> None:
    pace = Pace(gap=0.01)
    picture = Image.new("RGB", (8, 8))
    assert pace.due(Preview(picture, 1, 9))
    time.sleep(0.02)
    assert pace.due(Preview(picture, 2, 9))


def test_by_default_pictures_come_at_most_ten_a_second_and_step_counts_thirty(monkeypatch) -> None:
    import ui.frames as frames

    clock = [100.0]
    monkeypatch.setattr(frames.time, "monotonic", lambda: clock[0])
    pace, picture = Pace(), Image.new("RGB", (8, 8))
    assert pace.due(Preview(picture, 1, 99)) and pace.due(Progress(1, 99, 0.1, None))
    clock[0] += 0.05  # half a preview gap, more than a step-count gap
    assert not pace.due(Preview(picture, 2, 99)) and pace.due(Progress(2, 99, 0.2, None))
    clock[0] += 0.06
    assert pace.due(Preview(picture, 3, 99))
