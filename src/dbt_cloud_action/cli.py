"""`dbt-cloud-run`: the action's engine outside GitHub Actions (GitLab CI, Jenkins, a laptop).

Every action input is a flag (`--job-id 42`) and a variable (`DBT_CLOUD_JOB_ID=42`); a flag wins.
So are the CLI's own inputs for other git providers' pull requests (`--gitlab-merge-request-id`,
`--azure-pull-request-id`, `--non-native-pull-request-id`), which action.yml does not have.
Outputs are printed as `name=value` lines (or one JSON object with `--json`) on stdout, the job
summary goes to `--summary-file`, and the exit code is the action's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import __version__, toolkit
from .action import execute
from .inputs import CLI_ONLY_INPUT_NAMES, INPUT_NAMES

ENV_PREFIX = "DBT_CLOUD_"


def env_name(input_name: str) -> str:
    """`job-id` → `DBT_CLOUD_JOB_ID`."""
    return ENV_PREFIX + input_name.upper().replace("-", "_")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dbt-cloud-run",
        description="Trigger a dbt Cloud job, follow the run to its end and report it.",
        epilog="Each option can also be set as DBT_CLOUD_<OPTION> (e.g. DBT_CLOUD_API_TOKEN); "
        "pass the token that way, not as a flag, so it stays out of the process list.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    for name in (*INPUT_NAMES, *CLI_ONLY_INPUT_NAMES):
        parser.add_argument(f"--{name}", dest=name, metavar="VALUE", help=f"env {env_name(name)}")
    parser.add_argument("--json", action="store_true", help="print the outputs as one JSON object")
    parser.add_argument("--summary-file", type=Path, help="write the markdown summary here")
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    toolkit.use_utf8_streams()  # the outputs and the log, whatever the terminal's code page
    args = build_parser().parse_args(argv)
    environ = os.environ if env is None else env
    values = vars(args)

    def get_input(name: str) -> str:
        flag = values.get(name)
        return str(flag) if flag is not None else environ.get(env_name(name), "")

    result = execute(get_input, environ, cli=True)
    if not result.reports:
        return result.exit_code
    # after the run, like action.py's reporting imports: the first request does not wait for it
    from .reporting import step_outputs, step_summary  # noqa: PLC0415

    outputs = step_outputs(result.reports)
    if args.json:
        print(json.dumps(outputs, indent=2, sort_keys=True))
    else:
        for name, value in outputs.items():
            print(f"{name}={json.dumps(value) if chr(10) in value else value}")
    if args.summary_file is not None:
        args.summary_file.write_text(step_summary(result.reports), encoding="utf-8")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
