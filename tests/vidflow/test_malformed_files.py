"""Every malformed prompt file gives one error line naming the file (job, field) and loses
nothing else; files outside the prompts folder, links out of it, FIFOs and devices are
refused before a byte is read."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from malformed_corpus import CASES

from vidflow.cli import main
from vidflow.files import FileRefused, read_checked
from vidflow.spec import MAX_PROMPT_FILE_BYTES, load_prompt_files

VALID = {
    "fine.yaml": b"prompt: a lighthouse in the fog\n",
    "many.yaml": b"defaults: {seed: 2}\njobs:\n  - {id: one, prompt: a red kite}\n"
    b"  - {id: two, prompt: a blue kite}\n",
    "sub/deep.yaml": b"id: deeper\nprompt: a cave with glowing worms\n",
}


def expected_prefix(path: Path, job: str | None, field: str | None) -> str:
    where = str(path)
    if job is not None:
        where += f" job '{job}'"
    if field is not None:
        where += f" field '{field}'"
    return where + ": "


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    folder = tmp_path / "prompts"
    folder.mkdir()
    return folder


def test_the_corpus_is_large_and_each_case_named_once() -> None:
    names = [case[0] for case in CASES]
    assert len(names) >= 80 and len(set(names)) == len(names)


@pytest.mark.parametrize(("name", "data", "job", "field", "part"), CASES, ids=[c[0] for c in CASES])
def test_a_malformed_file_alone_gives_one_error_line_naming_it(
    prompts: Path, name: str, data: bytes, job: str | None, field: str | None, part: str
) -> None:
    path = prompts / f"{name}.yaml"
    path.write_bytes(data)
    report = load_prompt_files([path], prompts)
    assert report.jobs == []
    assert len(report.errors) == 1, report.errors
    error = report.errors[0]
    assert error.startswith(expected_prefix(path, job, field)), error
    assert part in error, error
    # Printable as one line: no raw control characters reach a terminal or a log.
    assert error.isprintable(), repr(error)


def test_the_whole_corpus_in_one_folder_loses_no_valid_neighbour(prompts: Path) -> None:
    for name, data, *_ in CASES:
        (prompts / f"{name}.yaml").write_bytes(data)
    for rel, data in VALID.items():
        (prompts / rel).parent.mkdir(parents=True, exist_ok=True)
        (prompts / rel).write_bytes(data)
    report = load_prompt_files([prompts], prompts)
    assert sorted(job.id for _, job in report.jobs) == ["deeper", "fine", "one", "two"]
    assert len(report.errors) == len(CASES)
    by_file = {
        error.split(":", 1)[0].split(" job ")[0].split(" field ")[0]: error
        for error in report.errors
    }
    for name, _, job, field, part in CASES:
        path = prompts / f"{name}.yaml"
        error = by_file[str(path)]
        assert error.startswith(expected_prefix(path, job, field)) and part in error


def test_validate_prints_one_plain_line_per_bad_file(
    prompts: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from vidflow.settings import get_settings

    monkeypatch.setenv("VIDFLOW_PROMPTS_DIR", str(prompts))
    get_settings.cache_clear()
    (prompts / "[red]x[-red].yaml").write_bytes(b'id: "[/red]\\e[2J"\nprompt: a\n')
    (prompts / "ok.yaml").write_bytes(b"prompt: a calm sea\n")
    (prompts / "odd.yaml").write_bytes(b"prompt: a calm sea\npreset: no-such-preset\n")
    try:
        code = main(["validate", str(prompts)])
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr()
    lines = out.err.splitlines()
    assert code == 2
    assert len(lines) == 2
    assert any(
        line.startswith(f"error: {prompts / 'odd.yaml'} job 'odd' field 'preset'") for line in lines
    )
    odd = f"error: {prompts / '[red]x[-red].yaml'} job '[/red]\\x1b[2J' field 'id'"
    assert any(line.startswith(odd) for line in lines)
    assert "\x1b" not in out.err
    assert out.out.strip() == "1 valid job(s) in 2 file(s), 2 error(s)"


def test_a_file_linked_from_outside_the_prompts_folder_is_refused(
    tmp_path: Path, prompts: Path
) -> None:
    secret = tmp_path / "outside.yaml"
    secret.write_text("prompt: TOKEN-OUTSIDE\n")
    (prompts / "link.yaml").symlink_to(secret)
    (prompts / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    (prompts / "passwd.yaml").symlink_to("/etc/passwd")
    report = load_prompt_files([prompts, prompts / "linkdir" / "outside.yaml"], prompts)
    assert report.jobs == []
    assert sorted(report.errors) == sorted(
        [
            f"{prompts / 'link.yaml'}: resolves to {secret}, outside {prompts}",
            f"{prompts / 'passwd.yaml'}: resolves to /etc/passwd, outside {prompts}",
            f"{prompts / 'linkdir' / 'outside.yaml'}: resolves to {secret}, outside {prompts}",
        ]
    )


def test_a_path_outside_the_prompts_folder_is_refused(tmp_path: Path, prompts: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "a.yaml").write_text("prompt: a\n")
    report = load_prompt_files([other, other / "a.yaml"], prompts)
    assert report.jobs == []
    assert sorted(report.errors) == sorted(
        [
            f"{other}: resolves to {other}, outside {prompts}",
            f"{other / 'a.yaml'}: resolves to {other / 'a.yaml'}, outside {prompts}",
        ]
    )


def test_a_link_to_dev_zero_is_refused_without_reading(prompts: Path) -> None:
    (prompts / "zero.yaml").symlink_to("/dev/zero")
    report = load_prompt_files([prompts / "zero.yaml"], prompts)
    assert report.errors == [f"{prompts / 'zero.yaml'}: resolves to /dev/zero, outside {prompts}"]


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_a_device_inside_the_allowed_folder_is_refused_before_reading(device: str) -> None:
    # Even where the folder allows it (the root is /dev), a device is not a regular file.
    with pytest.raises(FileRefused, match=r"not a regular file \(a character device\)"):
        read_checked(Path(device), Path("/dev"), MAX_PROMPT_FILE_BYTES)


def test_a_fifo_is_refused_and_does_not_hang(prompts: Path) -> None:
    fifo = prompts / "pipe.yaml"
    os.mkfifo(fifo)
    (prompts / "ok.yaml").write_text("prompt: a calm sea\n")
    result: list[object] = []
    worker = threading.Thread(
        target=lambda: result.append(load_prompt_files([prompts, fifo], prompts)), daemon=True
    )
    worker.start()
    worker.join(10)
    assert result, "reading a FIFO blocked"
    report = result[0]
    assert [job.id for _, job in report.jobs] == ["ok"]  # type: ignore[attr-defined]
    assert report.errors == [f"{fifo}: not a regular file (a FIFO)"]  # type: ignore[attr-defined]


def test_files_named_with_an_underscore_or_another_suffix_are_errors_when_named(
    prompts: Path,
) -> None:
    (prompts / "_draft.yaml").write_text("prompt: a\n")
    (prompts / "notes.txt").write_text("prompt: a\n")
    report = load_prompt_files([prompts / "_draft.yaml", prompts / "notes.txt"], prompts)
    assert report.errors == [
        f"{prompts / '_draft.yaml'}: not a prompt file: names starting with '_' are not run",
        f"{prompts / 'notes.txt'}: not a prompt file: the name must end .yaml or .yml",
    ]
    # In a folder they are simply not prompt files.
    assert load_prompt_files([prompts], prompts).errors == []


def test_an_image_through_a_linked_folder_out_of_the_prompts_folder_is_refused(
    tmp_path: Path, prompts: Path
) -> None:
    outside = tmp_path / "pictures"
    outside.mkdir()
    (outside / "cat.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (prompts / "pictures").symlink_to(outside, target_is_directory=True)
    (prompts / "inside.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (prompts / "a.yaml").write_text("prompt: a cat\nimage: pictures/cat.png\n")
    (prompts / "b.yaml").write_text("prompt: a cat\nimage: inside.png\n")
    report = load_prompt_files([prompts], prompts)
    assert report.errors == [
        (
            f"{prompts / 'a.yaml'} job 'a' field 'image': image pictures/cat.png: resolves to "
            f"{outside / 'cat.png'}, outside {prompts}"
        )
    ]
    # The image a job keeps is the checked real path inside the prompts folder.
    assert [job.image for _, job in report.jobs] == [str(prompts / "inside.png")]


@pytest.mark.parametrize(
    ("defaults", "message"),
    [
        (b"fps: fast\n", "field 'fps': Input should be a valid integer"),
        (b"prompt: x\n", "field 'prompt': not a field that can have a default"),
        (b"[" * 3000, "invalid YAML (line 1, column 17): nested deeper than 16 levels"),
        (b"1: x\nfoo: y\n", "field '1': not a field that can have a default"),
        (b"seed: 1\nseed: 2\n", "duplicate key 'seed'"),
        (b"- fps: 8\n", "must be a mapping of job fields"),
        (b"steps: true\n", "field 'steps': Input should be a valid integer"),
    ],
)
def test_a_broken_defaults_file_is_one_error_naming_it_and_the_rest_runs(
    prompts: Path, defaults: bytes, message: str
) -> None:
    (prompts / "_defaults.yaml").write_bytes(defaults)
    (prompts / "a.yaml").write_text("prompt: a calm sea\n")
    report = load_prompt_files([prompts], prompts)
    assert [job.id for _, job in report.jobs] == ["a"]
    assert len(report.errors) == 1
    assert report.errors[0].startswith(f"{prompts / '_defaults.yaml'}")
    assert message in report.errors[0]


def test_a_defaults_file_linked_from_outside_is_refused(tmp_path: Path, prompts: Path) -> None:
    (tmp_path / "d.yaml").write_text("fps: 12\n")
    (prompts / "_defaults.yaml").symlink_to(tmp_path / "d.yaml")
    (prompts / "a.yaml").write_text("prompt: a calm sea\n")
    report = load_prompt_files([prompts], prompts)
    assert [job.fps for _, job in report.jobs] == [None]
    assert report.errors == [
        f"{prompts / '_defaults.yaml'}: resolves to {tmp_path / 'd.yaml'}, outside {prompts}"
    ]


def test_a_committed_symlink_reached_through_changed_is_refused(tmp_path: Path) -> None:
    """`--changed` names what git says changed; a committed link out of the repository is
    still refused when it is read."""
    import subprocess

    from vidflow.changes import changed_prompt_files

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(tmp_path), *args], capture_output=True,
                              text=True, check=True)  # fmt: skip
        return done.stdout.strip()

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "ok.yaml").write_text("prompt: a calm sea\n")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    base = git("rev-parse", "HEAD")
    (prompts / "passwd.yaml").symlink_to("/etc/passwd")
    (prompts / "new.yaml").write_text("prompt: a windy hill\n")
    git("add", "-A")
    git("commit", "-q", "-m", "two")

    changes = changed_prompt_files(f"{base}..HEAD", tmp_path)
    assert sorted(changes.paths) == ["prompts/new.yaml", "prompts/passwd.yaml"]
    report = load_prompt_files([tmp_path / p for p in changes.paths], prompts)
    assert [job.id for _, job in report.jobs] == ["new"]
    assert report.errors == [
        f"{prompts / 'passwd.yaml'}: resolves to /etc/passwd, outside {prompts}"
    ]
