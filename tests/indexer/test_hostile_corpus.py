"""A corpus of broken and hostile files beside one good file of every format: `ragqa index`
finishes without a traceback, names every skip, and every good file is found for its question."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
RAGQA = str(Path(sys.executable).with_name("ragqa"))

STORY = """<!doctype html><html><head><title>Harbour | Example News</title>
<meta property="og:title" content="Harbour dredging finishes early">
<link rel="canonical" href="https://news.example/harbour">
<meta name="author" content="Ines Calder"></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>
<article class="promo"><h2><a href="/s">Subscribe now</a></h2><p>Only $1 a week.</p></article>
<div class="story"><h1>Harbour dredging finishes early</h1>
<p>Dredging of the Port Ellery channel finished in March, two months early, the harbour board
said on Tuesday.</p><div class="share">Share this with Messenger</div>
<p>The channel is now fourteen metres deep, enough for the largest container ships.</p></div>
<section class="comments"><article class="comment"><p>First! This is the best port ever built
in the whole history of ports.</p></article></section>
<footer>© 2026 Example News. All rights reserved.</footer></body></html>"""

# (file name, content, question, a phrase its answer must contain)
GOOD = {
    "dump.txt": (
        "Lighthouse repainted\n\nHome\nShare\n\nThe keeper Mirela Voss repainted the Kestrel "
        "Point lighthouse in 1987, using eleven tins of red paint.\n",
        "Who repainted the Kestrel Point lighthouse?",
        "Mirela Voss",
    ),
    "notes.md": (
        "# Orchard report\n\nThe Dunmore orchard grew 340 varieties of pear in its best year.\n",
        "How many pear varieties did the Dunmore orchard grow?",
        "340 varieties",
    ),
    "page.html": (STORY, "How deep is the Port Ellery channel?", "fourteen metres"),
    "record.json": (
        json.dumps(
            {
                "title": "Glacier survey",
                "text": "The Valbeck glacier retreated 212 metres between 2001 and 2021.",
                "url": "https://glaciers.example/valbeck",
                "date": "2022-04-01",
            }
        ),
        "How far did the Valbeck glacier retreat?",
        "212 metres",
    ),
    "records.json": (
        json.dumps(
            [
                {"id": "bees", "text": "Beekeepers in Ostrava counted 9,000 hives this spring."},
                {"id": "owls", "text": "The Ferncliff owl sanctuary rescued 58 barn owls."},
            ]
        ),
        "How many barn owls did the Ferncliff sanctuary rescue?",
        "58 barn owls",
    ),
    "feed.jsonl": (
        json.dumps({"id": "ferry", "text": "The Tarrow ferry now crosses in nine minutes."})
        + "\n"
        + json.dumps(
            {
                "id": "poisoned",
                "title": "<script>alert(1)</script> Tram news",
                "author": '<img src=x onerror="alert(2)">',
                "url": "javascript:alert(document.cookie)",
                "text": "The Brellin tram line carried 4.2 million riders in its first year.",
            }
        )
        + "\n{not json\n",
        "How many riders did the Brellin tram line carry?",
        "4.2 million riders",
    ),
    "single.jsonl": (
        json.dumps({"id": "kiln", "text": "The Marrow kiln fires pottery at 1,280 degrees."})
        + "\n",
        "At what temperature does the Marrow kiln fire pottery?",
        "1,280 degrees",
    ),
}


def _write_bad_files(src: Path) -> dict[str, str]:
    """Broken and hostile files; each maps to a phrase its skip reason must contain."""
    (src / "empty.txt").write_bytes(b"")
    (src / "blank.txt").write_text("  \n\t\n  ", "utf-8")
    (src / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (src / "nul.txt").write_bytes(b"Some text\x00with a NUL byte in it")
    (src / "undecodable.txt").write_bytes(b"caf\xc3 \x81\x8d\x8f\x90 na\xefve \x9d")
    (src / "deep.json").write_text("[" * 5000 + "]" * 5000, "utf-8")
    (src / "truncated.json").write_text('{"title": "Cut off", "text": "The sto', "utf-8")
    (src / "other.json").write_text('{"hello": "world"}', "utf-8")
    (src / "huge.txt").write_bytes(b"word " * (5 * 1024 * 1024))  # 25 MiB, over the limit
    (src / "dangling.txt").symlink_to(src / "missing-target.txt")
    (src / "loop-a.txt").symlink_to(src / "loop-b.txt")
    (src / "loop-b.txt").symlink_to(src / "loop-a.txt")
    return {
        "empty.txt": "empty file",
        "blank.txt": "whitespace only",
        "image.png": "binary content",
        "nul.txt": "binary content",
        "undecodable.txt": "not valid UTF-8",
        "deep.json": "nested too deeply",
        "truncated.json": "does not parse",
        "other.json": "neither a record",
        "huge.txt": "over the",
        "dangling.txt": "symbolic link to nothing",
        "loop-a.txt": "symbolic link to nothing",
        "loop-b.txt": "symbolic link to nothing",
        "feed.jsonl line 3": "not valid JSON",
    }


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, dict]]:  # type: ignore[type-arg]
    src = tmp_path_factory.mktemp("hostile-src")
    for name, (content, _, _) in GOOD.items():
        (src / name).write_text(content, "utf-8")
    # One enormous line: a megabyte with no line break (indexed, not a reason to stop).
    (src / "oneline.txt").write_text("Long line\n\n" + "zx" * 500_000 + " end.", "utf-8")
    expected = _write_bad_files(src)
    out = tmp_path_factory.mktemp("hostile-index")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGQA_")}
    done = subprocess.run(
        [RAGQA, "index", "--source", str(src), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env | {"HF_HUB_OFFLINE": "1", "RAGQA_QUERY_ENCODER": "torch"},
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    yield out, done.stderr, expected


def test_build_finishes_and_names_every_skip(hostile) -> None:  # type: ignore[no-untyped-def]
    _, stderr, expected = hostile
    assert "Traceback" not in stderr
    skips = {
        line.removeprefix("skipped ").split(": ", 1)[0]: line
        for line in stderr.splitlines()
        if line.startswith("skipped ")
    }
    for where, reason in expected.items():
        assert where in skips, f"{where} not reported as skipped:\n{stderr}"
        assert reason in skips[where], skips[where]
    assert not any(name in skips for name in GOOD), stderr
    # The poisoned record is indexed, its URL dropped with a reason.
    assert "warning feed.jsonl record 'poisoned': url 'javascript:" in stderr
    assert "only http and https links are kept" in stderr


@pytest.fixture(scope="module")
def client(hostile, embedder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    app = create_app(Settings(index_dir=hostile[0]), embedder=embedder)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("name", sorted(GOOD))
def test_every_good_file_is_found_for_its_question(client: TestClient, name: str) -> None:
    _, question, phrase = GOOD[name]
    r = client.post("/v1/ask", json={"question": question, "top_k": 3})
    assert r.status_code == 200, r.text
    top = r.json()["passages"][0]
    assert phrase in top["text"], top
    doc = client.get(f"/v1/documents/{top['doc_id']}").json()
    assert doc["text"][top["start"] : top["end"]] == top["text"]


def test_html_page_is_the_story_without_widgets_or_comments(client: TestClient) -> None:
    doc = client.get("/v1/documents/page").json()
    assert doc["title"] == "Harbour dredging finishes early"
    assert doc["source"] == "https://news.example/harbour"
    assert "Port Ellery channel finished in March" in doc["text"]
    assert "fourteen metres deep" in doc["text"]
    # The promo card's own paragraph ("Only $1 a week.") survives trafilatura; its link does not.
    for chrome in ("Subscribe", "Share this", "First!", "All rights", "World"):
        assert chrome not in doc["text"], chrome
    assert doc["text"].index("Port Ellery") < doc["text"].index("fourteen metres")


def test_no_unsafe_url_reaches_a_response(client: TestClient) -> None:
    r = client.post("/v1/ask", json={"question": "Brellin tram riders first year"})
    passages = r.json()["passages"]
    poisoned = [p for p in passages if p["doc_id"] == "poisoned"]
    assert poisoned and poisoned[0]["source"] == "feed.jsonl"
    assert "javascript" not in r.text.lower()
    doc = client.get("/v1/documents/poisoned")
    assert doc.json()["source"] == "feed.jsonl" and "javascript" not in doc.text.lower()
    chat = client.post(
        "/v1/chat/completions",
        json={"model": "ragqa", "messages": [{"role": "user", "content": "Brellin tram riders?"}]},
    )
    assert chat.status_code == 200, chat.text
    assert "javascript" not in chat.text.lower()
