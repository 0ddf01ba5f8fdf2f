"""Read a job log the way GitLab finds its collapsible sections in it.

GitLab's rule (lib/gitlab/regex.rb, `build_trace_section_regex`, used by Gitlab::Ci::Ansi2json):
`section_(start|end):<digits>:<name>[<options>]` directly followed by a carriage return and
`ESC[0K`. GitLab scans a line position by position, so searching the whole text finds every
marker GitLab would see (and possibly more): a test that finds none we did not print has proved
that GitLab sees none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SECTION_MARKER = re.compile(
    r"section_(start|end):(\d+):([a-zA-Z0-9_.-]+)(\[(?:\w+=\w+)(?:, ?(?:\w+=\w+))*\])?\r\x1b\[0K"
)


@dataclass(frozen=True)
class SectionMarker:
    kind: str  # "start" or "end"
    name: str
    options: str  # "[collapsed=true]" or ""
    header: str  # the text after a start marker, up to the end of its line


def section_markers(log: str) -> list[SectionMarker]:
    markers = []
    for match in SECTION_MARKER.finditer(log):
        rest = log[match.end() :]
        header = rest.split("\n", 1)[0] if match[1] == "start" else ""
        markers.append(SectionMarker(match[1], match[3], match[4] or "", header))
    return markers


def without_markers(log: str) -> str:
    """The log's text as shown: markers and the erase-line sequences around them removed."""
    return SECTION_MARKER.sub("", log).replace("\x1b[0K", "")
