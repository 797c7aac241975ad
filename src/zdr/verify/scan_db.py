"""Canary search inside the database through SQL, for servers whose files verify cannot read
(PostgreSQL without `--pg-data-dir`): every text, JSON and binary column of every table."""

from __future__ import annotations

from sqlalchemy import JSON, ColumnElement, LargeBinary, String, Text, cast, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.schema import Column

from zdr.store.tables import metadata
from zdr.verify.canary_forms import canary_forms
from zdr.verify.report import CheckResult


def _like_escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _condition(column: Column[object], forms: dict[str, bytes]) -> ColumnElement[bool] | None:
    """True where `column` holds any form; None for columns that cannot hold text or bytes."""
    if isinstance(column.type, LargeBinary):
        # Hex of the bytes vs hex of the pattern; an odd-offset false hit needs a rare coincidence.
        encoded = func.encode(column, "hex")
        return or_(*(func.strpos(encoded, pattern.hex()) > 0 for pattern in forms.values()))
    if isinstance(column.type, String | Text | JSON):
        texts = {pattern.decode("utf-8", "ignore") for pattern in forms.values()}
        as_text = cast(column, Text)
        return or_(*(as_text.like(f"%{_like_escaped(text)}%", escape="\\")
                     for text in sorted(texts) if text and "\x00" not in text))
    return None


def scan_tables(engine: Engine, canaries: list[str], result: CheckResult) -> None:
    """One violation per (table, column, canary) whose text or byte forms match some row."""
    if not canaries:
        return
    forms = [canary_forms(canary) for canary in canaries]
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for column in table.columns:
                if _condition(column, forms[0]) is None:
                    continue
                result.examined += 1
                for number, canary_form in enumerate(forms, start=1):
                    condition = _condition(column, canary_form)
                    assert condition is not None
                    query = select(func.count()).select_from(table).where(condition)
                    count = conn.execute(query).scalar_one()
                    if count:
                        result.add(f"{table.name}.{column.name}",
                                   f"canary #{number} found in {count} row(s)")
