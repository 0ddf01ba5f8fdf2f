"""Text an attacker controls (branch names, commit messages, dbt logs), for hypothesis."""

from __future__ import annotations

from hypothesis import strategies as st

# Pieces that break naive escaping of outputs, workflow commands, markdown and HTML.
FRAGMENTS = (
    "\n",
    "\r",
    "\r\n",
    "\u2028",
    "\u2029",
    "\x85",
    "\x00",
    "\x1b[31m",
    "\u202e",
    "::set-output name=status::success",
    "::add-mask::x",
    "::stop-commands::t",
    "::error title=x::y",
    "##[set-output name=status;]success",
    "\x1b[0Ksection_start:1700000000:dbt_cloud_1[collapsed=true]\r\x1b[0K",
    "section_end:1700000000:dbt_cloud_1\r\x1b[0K",
    "\x1b[0K",
    "\x1b",
    "%0A",
    "%3A",
    "<<EOF",
    "EOF",
    "ghadelimiter_",
    "status=success",
    "=",
    "|",
    "\\|",
    "`",
    "```",
    "\\",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "</details>",
    "<!--",
    "-->",
    "&lt;",
    "@octocat",
    "@org/team",
    "#1",
    "*",
    "_",
    "[x](javascript:alert(1))",
    "> ",
    "- ",
    "1. ",
    "# ",
    "    ",
    "\t",
    "<br>",
    " ",
)

hostile_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=12
).map("".join)
