"""The repository stands alone and speaks of the product: its documents link only to files it
holds, nothing refers to material outside it or to how the work was organised, and the
specification names every rule id the policy can produce."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).parents[2]
# Never in a tracked file: the design folder outside the repository, or a work item or work
# period by number (the word "issue" or "session" followed by a number).
OUTSIDE_OR_PROCESS = re.compile(r"\.\./shared|\b(?:session|issue)s?[ _#-]*\d", re.IGNORECASE)
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
# A repository path in backquotes: `tests/store/test_purge.py`, `src/zdr/policy/rules.py::name`.
CODE_PATH = re.compile(r"`((?:src|tests|bench|scenarios|docs)/[\w./-]+?)(?:::\w+)?`")
MADE_BY_RUNS = ("bench/results/", "bench/.venv-litellm",   # what the benchmarks create
                "bench/.venv-ceiling")
RULE_ID = re.compile(r"RuleHit\(\s*\"([a-z_]+(?:\.[a-z_]+)+)\"")
UNTRACKED = {".git", ".venv", "zdr-home", "test-artifacts", ".pytest_cache", ".mypy_cache",
             ".ruff_cache", ".hypothesis", "__pycache__", ".venv-litellm"}


def tracked_files() -> list[Path]:
    """The files git tracks; outside a git checkout, every file but caches and local state."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                                check=True, timeout=60).stdout.decode().split("\0")
        return [ROOT / name for name in listed if name and (ROOT / name).is_file()]
    except (OSError, subprocess.CalledProcessError):
        return [path for path in ROOT.rglob("*") if path.is_file()
                and not UNTRACKED & set(path.relative_to(ROOT).parts)]


def test_no_file_refers_to_outside_material_or_work_items() -> None:
    found = []
    for path in tracked_files():
        if path.stat().st_size > 5_000_000:
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        for number, line in enumerate(text.splitlines(), 1):
            if match := OUTSIDE_OR_PROCESS.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r}")
    assert not found, "speak of the product, not of the work:\n" + "\n".join(found)


def test_every_relative_link_in_the_documents_resolves() -> None:
    broken = []
    for path in tracked_files():
        if path.suffix != ".md":
            continue
        for target in LINK.findall(path.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            resolved = (path.parent / target.split("#", 1)[0]).resolve()
            if not resolved.is_relative_to(ROOT.resolve()) or not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_the_specification_names_every_rule_id_of_the_policy() -> None:
    design = (ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    ids = {rule_id for source in (ROOT / "src" / "zdr" / "policy").glob("*.py")
           for rule_id in RULE_ID.findall(source.read_text(encoding="utf-8"))}
    assert {"scope.zdr_in_force", "hipaa.ineligible_features", "browser.rejected"} <= ids
    missing = sorted(rule_id for rule_id in ids if f"`{rule_id}`" not in design)
    assert not missing, f"rule ids missing from docs/DESIGN.md §2: {missing}"


def test_every_repository_path_the_documents_name_exists() -> None:
    missing = []
    for path in tracked_files():
        if path.suffix != ".md":
            continue
        for name in CODE_PATH.findall(path.read_text(encoding="utf-8")):
            if not name.startswith(MADE_BY_RUNS) and not (ROOT / name).exists():
                missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, missing
