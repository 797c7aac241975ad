"""The 30 lines of Python in docs/AUDITING.md check a real statement and proof (and refuse an
altered one): the documentation's verifier is tested, not just written."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from evidence_world import START, World

DOC = Path(__file__).parents[2] / "docs" / "AUDITING.md"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World.make(tmp_path / "home")
    w.org("acme")
    for i in range(7):
        w.exchange("acme", started=START + timedelta(seconds=i))
    yield w
    w.close()


def run_snippet(tmp_path: Path, document: bytes, pem: str) -> subprocess.CompletedProcess[str]:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert code is not None and len(code.group(1).splitlines()) <= 35
    (tmp_path / "check.py").write_text(code.group(1), encoding="utf-8")
    (tmp_path / "file.json").write_bytes(document)
    (tmp_path / "key.pem").write_text(pem, encoding="ascii")
    return subprocess.run([sys.executable, str(tmp_path / "check.py"),
                           str(tmp_path / "file.json"), str(tmp_path / "key.pem")],
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_documented_python_checks_a_statement_and_a_proof(world: World,
                                                              tmp_path: Path) -> None:
    statement = world.statement("acme")
    pem = world.plane.evidence.signer().public_pem
    done = run_snippet(tmp_path, statement.document, pem)
    assert done.returncode == 0 and done.stdout.strip() == "zdr.statement/v1 signed"
    with world.engine.connect() as conn:
        exchange_id = conn.exec_driver_sql("SELECT id FROM exchanges LIMIT 1 OFFSET 5"
                                           ).scalar_one()
    proof = world.plane.evidence.prove(world.operator, statement.document, exchange_id)
    done = run_snippet(tmp_path, proof.document, pem)
    assert done.returncode == 0 and done.stdout.strip() == "zdr.inclusion-proof/v1 True"
    altered = proof.document.replace(b'"status_code":200', b'"status_code":201', 1)
    assert run_snippet(tmp_path, altered, pem).returncode != 0
