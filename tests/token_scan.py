"""Scan everything a simulated step left behind for the API tokens the tests used.

`SimulatedRunner.finish` records each step here (stdout, stderr and every file it wrote: outputs,
summary, state, env, artifacts); `tests/conftest.py` scans each test's steps when the test ends,
against every token seen so far in the session, and fails the test on a leak. The only place a
token may appear is the action's own `::add-mask::<token>` line, which the runner consumes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

# api-token values shorter than this are test placeholders ("x", ""), not secrets to look for.
MIN_TOKEN_LENGTH = 16
_TOKEN_INPUT = "INPUT_API-TOKEN"


@dataclass(frozen=True)
class Capture:
    """One step's text, by where it was found."""

    label: str
    texts: dict[str, str]
    tokens: frozenset[str]


@dataclass(frozen=True)
class Leak:
    label: str
    where: str
    line: str

    def __str__(self) -> str:
        return f"{self.label}: token in {self.where}: {self.line[:200]!r}"


class TokenScan:
    """The session's captures and the tokens they used."""

    def __init__(self) -> None:
        self.captures: list[Capture] = []
        self.tokens: set[str] = set()

    def add_token(self, token: str) -> None:
        """A token to look for although no step used it as api-token (e.g. pasted elsewhere)."""
        if len(token) >= MIN_TOKEN_LENGTH:
            self.tokens.add(token)

    def record(
        self, label: str, env: Mapping[str, str], stdout: str, stderr: str, root: Path
    ) -> None:
        texts = {"stdout": stdout, "stderr": stderr}
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            texts[str(path.relative_to(root))] = path.read_bytes().decode("utf-8", "replace")
        token = env.get(_TOKEN_INPUT, "").strip()
        tokens = frozenset({token} if len(token) >= MIN_TOKEN_LENGTH else ())
        self.tokens |= tokens
        self.captures.append(Capture(label, texts, tokens))

    def leaks(self, captures: Iterable[Capture]) -> list[Leak]:
        return [leak for capture in captures for leak in find_leaks(capture, self.tokens)]


def find_leaks(capture: Capture, tokens: Iterable[str]) -> list[Leak]:
    """Every line of the capture that shows a token, but for stdout's exact add-mask lines."""
    wanted = sorted({t for t in tokens if t}, key=len, reverse=True)
    if not wanted:
        return []
    pattern = re.compile("|".join(map(re.escape, wanted)))
    allowed = {f"::add-mask::{token}" for token in wanted}
    found: list[Leak] = []
    for where, text in capture.texts.items():
        for line in re.split(r"\r\n|\r|\n|\u2028|\u2029|\x85", text):
            if where == "stdout" and line in allowed:
                continue
            if pattern.search(line):
                found.append(Leak(capture.label, where, line))
    return found


SESSION = TokenScan()
