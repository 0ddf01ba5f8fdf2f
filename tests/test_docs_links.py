"""Every relative link in README.md, SECURITY.md and docs/*.md reaches a file that exists and,
with a #fragment, a heading of that file: sections moved between pages must not leave readers
at a dead link. Fragments follow GitHub's heading anchors (lower-case, punctuation dropped,
spaces to hyphens, a repeated heading's anchor suffixed -1, -2, ...)."""

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", ROOT / "SECURITY.md", *(ROOT / "docs").glob("*.md")])

FENCE = re.compile(r"^(```|~~~)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?\s*\)")
INLINE_CODE = re.compile(r"`+[^`]*`+")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, ...


def prose(text: str) -> list[str]:
    """The lines outside fenced code blocks: a link or heading inside one is only shown."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: of its text as rendered (links by their text, no code
    marks or emphasis), lower-cased, anything but letters, digits, `_`, `-` and spaces dropped,
    spaces turned into hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: Counter[str] = Counter()
    found = set()
    for line in prose(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(1))
            found.add(base if not seen[base] else f"{base}-{seen[base]}")
            seen[base] += 1
    return found


def links(page: Path) -> list[str]:
    targets = []
    for line in prose(page.read_text(encoding="utf-8")):
        shown = INLINE_CODE.sub("", line)
        targets += LINK.findall(shown) + IMAGE.findall(shown)
    return [target for target in targets if not EXTERNAL.match(target)]


def broken(page: Path, root: Path = ROOT) -> list[str]:
    """The relative links of `page` (a file under `root`) that lead nowhere, each with why."""
    problems = []
    for target in links(page):
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            problems.append(f"{target}: no file {linked.relative_to(root)}")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            problems.append(f"{target}: no heading #{fragment} in {linked.relative_to(root)}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file_and_heading(page: Path) -> None:
    assert broken(page) == []


def test_the_checker_finds_a_dead_file_and_a_dead_heading(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    other = "# Run lifecycle\n\n## What is guaranteed?\n\n## Steps\n## Steps\n"
    (tmp_path / "other.md").write_text(other)
    page.write_text(
        "# Title: `x`\n\n"
        "[ok](other.md#what-is-guaranteed) [ok](other.md#steps-1) [ok](#title-x) "
        "[ok](https://example.com/#nowhere) `[not a link](gone.md)`\n\n"
        "[gone](gone.md) [moved](other.md#memory) [self](#nowhere)\n\n"
        "```md\n[in code](gone.md)\n```\n"
    )
    found = [problem.split(":")[0] for problem in broken(page, tmp_path)]
    assert found == ["gone.md", "other.md#memory", "#nowhere"]
