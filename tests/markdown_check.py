"""A small model of how GitHub renders the markdown we write, to check untrusted text stays text.

It follows the CommonMark/GFM rules our escaping relies on: fenced code blocks and code spans
show their content literally; outside them a backslash escapes ASCII punctuation and entities
decode; a table row is split at every pipe not preceded by a backslash. Anything outside code
that could start HTML (`<`) or a mention (`@name`) is reported.
"""

from __future__ import annotations

import html
import re
import string

ALLOWED_TAGS = frozenset(
    {"<br>", "<details open>", "</details>", "<summary>", "</summary>", "<sub>", "</sub>"}
)
CODE = "\ue000"  # stands for a code span's content in text_outside_code()
_PUNCTUATION = set(string.punctuation)
_OPENING_FENCE = re.compile(r" {0,3}(`{3,})[^`]*")
_BACKSLASH_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_MENTION = re.compile(r"(?:^|[^A-Za-z0-9_`])@[A-Za-z0-9]")
_REFERENCE = re.compile(r"(?:^|[^A-Za-z0-9_&])#\d+")


def _without_code_spans(line: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line) and line[i + 1] in _PUNCTUATION:
            out.append(line[i : i + 2])
            i += 2
            continue
        if line[i] == "`":
            run = len(line[i:]) - len(line[i:].lstrip("`"))
            closing = re.compile(rf"(?<!`)`{{{run}}}(?!`)").search(line, i + run)
            if closing:
                out.append(CODE)
                i = closing.end()
            else:
                out.append("`" * run)
                i += run
            continue
        out.append(line[i])
        i += 1
    return "".join(out)


def _fenced(markdown: str) -> list[tuple[str, bool]]:
    """Each line, and whether it belongs to a fenced code block (fences included)."""
    lines: list[tuple[str, bool]] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        if fence is not None:
            if re.fullmatch(rf" {{0,3}}`{{{len(fence)},}} *", line):
                fence = None
            lines.append((line, True))
            continue
        opening = _OPENING_FENCE.fullmatch(line)
        if opening:
            fence = opening.group(1)
        lines.append((line, opening is not None))
    assert fence is None, "a code fence is never closed"
    return lines


def text_outside_code(markdown: str) -> str:
    """The markdown with fenced blocks emptied and code spans replaced by CODE."""
    return "\n".join(
        "" if fenced else _without_code_spans(line) for line, fenced in _fenced(markdown)
    )


def decode_text(markdown_text: str) -> str:
    """What escaped text shows: backslash escapes and entities resolved."""
    return html.unescape(_BACKSLASH_ESCAPE.sub(r"\1", markdown_text))


def live_html(markdown: str) -> list[str]:
    """Tags or stray `<` outside code that are not ours."""
    outside = text_outside_code(markdown)
    outside = re.sub(r"^<!--(?:(?!-->).)*-->$", "", outside, count=1, flags=re.M)
    # the comment's hidden state line (comment_mode.py): ours, a fixed form with a hex hash
    outside = re.sub(r"^<!-- dbt-cloud-run-state: [0-9a-f]{16} -->$", "", outside, flags=re.M)
    found = re.findall(r"<[^>]*>?", outside)
    return [tag for tag in found if tag not in ALLOWED_TAGS]


def mentions(markdown: str) -> list[str]:
    """`@name` GitHub would link (and notify) in the rendered text."""
    return _MENTION.findall(decode_text(text_outside_code(markdown)))


def references(markdown: str) -> list[str]:
    """`#123` GitHub would link to an issue or pull request."""
    return [m.lstrip("([ ") for m in _REFERENCE.findall(decode_text(text_outside_code(markdown)))]


def table_cells(row: str) -> list[str]:
    """A table row's cells, split like GFM: at pipes without a backslash before them."""
    inner = row.strip()
    assert inner.startswith("|")
    assert inner.endswith("|")
    assert not inner.endswith("\\|")
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", inner[1:-1])]


def tables(markdown: str) -> list[list[list[str]]]:
    """Every table (consecutive lines starting with `|`) as rows of cells."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line, fenced in [*_fenced(markdown), ("", False)]:
        if line.startswith("|") and not fenced:
            current.append(table_cells(line))
        elif current:
            found.append(current)
            current = []
    return found


def code_span_text(cell: str) -> str:
    """What a cell holding one code span shows (GFM first turns `\\|` into `|`)."""
    cell = cell.replace("\\|", "|")
    run = len(cell) - len(cell.lstrip("`"))
    assert run > 0
    assert cell.endswith("`" * run)
    content = cell[run:-run]
    if content.startswith(" ") and content.endswith(" ") and content.strip(" "):
        content = content[1:-1]
    return content
