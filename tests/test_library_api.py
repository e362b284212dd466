"""The library's endpoints on a served app: search, boards and images through the API with catchable errors, and,
hosted, two visitors who never see (or reach) each other's images."""

from __future__ import annotations

import secrets
import zipfile
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

from engine import Catalog, Query, Recipe, Settings, Studio
from tests.conftest import SD
from tests.test_api import free_port
from ui.layout import build_app, launch
from ui.library_keys import owner_of


@pytest.fixture(scope="module")
def hosted(cache_dir: Path, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory):
    """A hosted server that saves (--outputs): the library is on, per visitor."""
    settings = Settings(cache_dir=cache_dir, outputs_dir=tmp_path_factory.mktemp("hosted-out"), memory_budget_gb=8.0,
                        port=free_port(), hosted=True)
    studio = Studio(settings, demo=True, online=False, catalog=catalog)
    app = build_app(studio)
    launch(app, studio, quiet=True)
    try:
        yield app.local_url, studio
    finally:
        app.close()
        studio.close()


def make(client: Client, prompt: str) -> None:
    """A real run through the API: its result is claimed for the key the client's session registered."""
    client.predict(prompt=prompt, steps=1, width=64, height=64, api_name="/txt2img")


def saved(studio: Studio, prompt: str, key: str) -> None:
    """A result saved as a run saves it, and claimed for `key` as a run's result is (no model: fast)."""
    recipe = Recipe(prompt=prompt, negative_prompt="", model=SD, width=64, height=64, steps=1, guidance_scale=7.0,
                    scheduler="Default", seed=3)
    studio.library.claim(studio.outputs.write(Image.new("RGB", (64, 64), "teal"), recipe), owner_of(key))


def test_two_hosted_visitors_never_see_each_others_images(hosted) -> None:
    url, studio = hosted
    alice, bob = Client(url, verbose=False), Client(url, verbose=False)
    key_a, key_b = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    assert alice.predict(key=key_a, api_name="/library")["total"] == 0  # the key is now this session's
    assert bob.predict(key=key_b, api_name="/library")["total"] == 0
    make(alice, "alice terracotta facade")
    saved(studio, "bob terracotta facade", key_b)
    found = alice.predict(words="terracotta", key=key_a, api_name="/library")
    assert [e["prompt"] for e in found["entries"]] == ["alice terracotta facade"]
    assert "path" not in found["entries"][0]  # a hosted server never tells where its files are
    assert [e["prompt"] for e in bob.predict(words="facade", key=key_b, api_name="/library")["entries"]] == [
        "bob terracotta facade"]
    theirs = found["entries"][0]["id"]
    board = bob.predict("create", name="bob's", key=key_b, api_name="/library_board")
    for attempt in (lambda: bob.predict("add", board=board["id"], images=str(theirs), key=key_b,
                                        api_name="/library_board"),
                    lambda: bob.predict("trash", images=str(theirs), key=key_b, api_name="/library_images")):
        with pytest.raises(AppError, match="no image"):
            attempt()
    assert bob.predict(key=key_b, api_name="/library_boards")[0]["name"] == "bob's"
    assert alice.predict(key=key_a, api_name="/library_boards") == []
    assert Client(url, verbose=False).predict(api_name="/library")["total"] == 0  # no key: its own session's only
    with pytest.raises(AppError, match="library key"):
        alice.predict(key="short", api_name="/library")
    assert studio.library.search(Query(), "").total == 0  # unclaimed (nobody's) stays unseen


def test_an_api_clients_results_are_its_own_without_a_library_call_first(hosted) -> None:
    url, studio = hosted
    maker, other = Client(url, verbose=False), Client(url, verbose=False)
    make(maker, "a keyless rattan lamp")  # no /library call before
    mine = maker.predict(words="keyless", api_name="/library")  # no key: the session's own
    assert [e["prompt"] for e in mine["entries"]] == ["a keyless rattan lamp"]
    assert other.predict(words="keyless", api_name="/library")["total"] == 0  # another session sees nothing
    assert studio.library.search(Query(words="keyless"), "").total == 0  # and it is not nobody's
    key = secrets.token_urlsafe(32)
    assert maker.predict(words="keyless", key=key, api_name="/library")["total"] == 1  # its first key adopts it
    elsewhere = Client(url, verbose=False)  # the same key in a new session (another machine, a restart)
    assert [e["id"] for e in elsewhere.predict(words="keyless", key=key, api_name="/library")["entries"]] == [
        mine["entries"][0]["id"]]
    make(maker, "a keyless rattan chair")  # later runs of the session go to its key at once
    assert elsewhere.predict(words="keyless", key=key, api_name="/library")["total"] == 2
    assert other.predict(words="keyless", key=secrets.token_urlsafe(32), api_name="/library")["total"] == 0


def test_boards_and_images_through_the_api(hosted) -> None:
    url, studio = hosted
    client, key = Client(url, verbose=False), secrets.token_urlsafe(32)
    client.predict(key=key, api_name="/library")
    for prompt in ("a linen dress", "a wool scarf"):
        saved(studio, prompt, key)
    ids = [e["id"] for e in client.predict(key=key, api_name="/library")["entries"]]
    board = client.predict("create", name="Keepers", key=key, api_name="/library_board")
    assert client.predict("add", board=board["id"], images=", ".join(map(str, ids)), key=key,
                          api_name="/library_board") == {"changed": 2}
    assert client.predict(board=board["id"], key=key, api_name="/library")["total"] == 2
    client.predict("star", images=str(ids[0]), key=key, api_name="/library_images")
    assert [e["id"] for e in client.predict(starred=True, key=key, api_name="/library")["entries"]] == ids[:1]
    client.predict("trash", images=str(ids[1]), key=key, api_name="/library_images")
    assert client.predict(trash=True, key=key, api_name="/library")["total"] == 1
    assert client.predict(board=board["id"], key=key, api_name="/library")["total"] == 1
    client.predict("rename", board=board["id"], name="Final", key=key, api_name="/library_board")
    assert client.predict(key=key, api_name="/library_boards")[0]["name"] == "Final"
    exported = client.predict(board["id"], key=key, api_name="/library_export")
    with zipfile.ZipFile(exported) as archive:
        assert len(archive.namelist()) == 2 and "contact-sheet.png" in archive.namelist()  # the trashed one is out
    for bad, match in ((dict(size="huge"), "WIDTHxHEIGHT"), (dict(since="tuesday"), "not a date")):
        with pytest.raises(AppError, match=match):
            client.predict(key=key, api_name="/library", **bad)
    with pytest.raises(AppError, match="not one of"):
        client.predict("explode", key=key, api_name="/library_board")
    with pytest.raises(AppError, match="ids"):
        client.predict("star", images="one, two", key=key, api_name="/library_images")


def test_a_signed_in_visitor_owns_by_account_on_any_browser(tmp_path: Path) -> None:
    """On a Space with Hugging Face login (or a server's own login) the account owns the library, not the browser."""
    from types import SimpleNamespace

    from ui.library_keys import owner

    studio = SimpleNamespace(settings=Settings(cache_dir=tmp_path, hosted=True), library=None)
    laptop, phone = (SimpleNamespace(session_hash=f"s-{n}", username="alice") for n in ("laptop", "phone"))
    bob = SimpleNamespace(session_hash="s-bob", username="bob")
    key = secrets.token_urlsafe(32)
    assert owner(studio, laptop, key) == owner(studio, phone) == owner(studio, phone, secrets.token_urlsafe(32))
    assert owner(studio, bob, key) not in (owner(studio, laptop), owner_of(key))
    anonymous = SimpleNamespace(session_hash="s-anonymous", username=None)
    assert owner(studio, anonymous, key) == owner_of(key)  # not signed in: the browser's key, as before
