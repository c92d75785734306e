"""benchmarks/records.py: which commit a record names, and when a tree counts as clean."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
import records  # noqa: E402


@pytest.fixture()
def repo(tmp_path, monkeypatch):
    """A git repository with a source file and the campaign's outputs, all committed."""

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@example.org")
    git("config", "user.name", "t")
    for path in (
        "src/code.py",
        "benchmarks/results/r.json",
        "docs/results.md",
        "docs/img/results/a.png",
    ):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("v1\n")
    git("add", ".")
    git("commit", "-qm", "init")
    monkeypatch.setattr(records, "ROOT", tmp_path)
    return tmp_path


def test_the_campaign_s_own_outputs_leave_the_tree_clean(repo):
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    for path in ("benchmarks/results/r.json", "docs/results.md", "docs/img/results/a.png"):
        (repo / path).write_text("v2\n")
    (repo / "benchmarks/results/new.json").write_text("{}")  # untracked: never dirt
    assert records.git_commit() == head and records.changed_files() == []


def test_a_changed_source_file_makes_it_dirty_and_is_named(repo):
    (repo / "src/code.py").write_text("v2\n")
    assert records.git_commit().endswith("-dirty")
    assert records.changed_files() == ["src/code.py"]
