"""Find the catalog a stored decision names, by version.

Candidates: the configured catalog, the packaged default, and every `*.toml` in `HOME/catalogs/`
(where an operator keeps the versions that stored decisions still name after an upgrade).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from zdr.catalog import Catalog, CatalogError, default_catalog, load_catalog


class CatalogLibrary:
    """Catalogs indexed by version; `problems` lists the files that did not load."""

    def __init__(self, catalogs: Iterable[Catalog], problems: Iterable[str] = ()) -> None:
        self._by_version: dict[str, Catalog] = {}
        for catalog in catalogs:
            self._by_version.setdefault(catalog.version, catalog)
        self.problems = list(problems)

    def get(self, version: str) -> Catalog | None:
        return self._by_version.get(version)

    @property
    def versions(self) -> list[str]:
        return sorted(self._by_version)

    @classmethod
    def discover(cls, configured: Path | None, archive_dir: Path) -> CatalogLibrary:
        found: list[Catalog] = []
        problems: list[str] = []
        paths = [configured] if configured is not None else []
        if archive_dir.is_dir():
            paths.extend(sorted(archive_dir.glob("*.toml")))
        for path in paths:
            try:
                found.append(load_catalog(path))
            except (CatalogError, OSError) as error:
                problems.append(f"{path}: {type(error).__name__}")
        found.append(default_catalog())
        return cls(found, problems)
