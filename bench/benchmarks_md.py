"""Rebuild the details of BENCHMARKS.md from the reports the benchmarks wrote.

    .venv/bin/python bench/benchmarks_md.py

Everything in BENCHMARKS.md up to and including its `## Details, per area` heading and the
paragraph under it is kept as written (the summary against the issues' targets is written by
hand from these reports); everything after is replaced by the files of `bench/results` listed in
`PARTS`, in that order, each demoted by two heading levels so it nests under the details heading.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DETAILS = "## Details, per area"
# (report, its title here when it should differ from the report's own first heading)
PARTS: tuple[tuple[str, str | None], ...] = (
    ("compare.md", None),           # issue 9: the side-by-side run
    ("policy.md", None),            # issue 2
    ("gateway.md", None),           # issue 3
    ("store.md", None),             # issue 4 (+ the writer work of issue 9)
    ("safety.md", None),            # issue 5 (+ the classifier work of issue 9)
    ("control.md", None),           # issue 6
    ("console.md", None),           # issue 7
    ("compare-late.md",             # issue 9: the run before session 2's optimisations
     "Session 1's last run, before session 2's optimisations: zdr-gateway vs. LiteLLM vs. the "
     "wire"),
)
_HEADING = re.compile(r"^(#{1,4}) ", re.MULTILINE)


def demoted(text: str) -> str:
    """Every Markdown heading two levels deeper (`# A` becomes `### A`), code blocks aside."""
    out: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        out.append(line if fenced else _HEADING.sub(lambda m: "#" * (len(m.group(1)) + 2) + " ",
                                                    line))
    return "\n".join(out)


def rebuild(benchmarks: Path, parts: tuple[tuple[str, str | None], ...] = PARTS) -> str:
    text = benchmarks.read_text()
    start = text.index(DETAILS)
    intro_end = text.index("\n---\n", start)
    kept = text[:intro_end].rstrip() + "\n"
    sections = []
    for name, title in parts:
        path = RESULTS / name
        if not path.exists():
            raise SystemExit(f"bench/results/{name} is missing: run the benchmark that writes it "
                             "(its command is in bench/README.md)")
        text = path.read_text().strip()
        if title is not None and text.startswith("# "):
            text = "# " + title + text[text.index("\n"):]
        sections.append(demoted(text))
    return kept + "\n---\n\n" + "\n\n---\n\n".join(sections) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    args.file.write_text(rebuild(args.file))
    print(f"rebuilt the details of {args.file} from {len(PARTS)} reports in bench/results")


if __name__ == "__main__":
    main()
