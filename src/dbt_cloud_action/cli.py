"""`dbt-cloud-run`: the action's engine outside GitHub Actions (GitLab CI, Jenkins, a laptop).

Every action input is a flag (`--job-id 42`) and a variable (`DBT_CLOUD_JOB_ID=42`); a flag wins.
So are the CLI's own inputs for other git providers' pull requests (`--gitlab-merge-request-id`,
`--azure-pull-request-id`, `--non-native-pull-request-id`), which action.yml does not have.
Outputs are printed as `name=value` lines (or one JSON object with `--json`) on stdout, the job
summary goes to `--summary-file`, and the exit code is the action's.

`dbt-cloud-run verify-webhook --signature SIG [FILE]` checks a dbt Cloud webhook's signature
(webhook.py) for a relay: exit 0 and `run-id=N` when it is dbt Cloud's, 1 when not.
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
        "pass the token that way, not as a flag, so it stays out of the process list. "
        "dbt-cloud-run verify-webhook --help: check a dbt Cloud webhook's signature.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    for name in (*INPUT_NAMES, *CLI_ONLY_INPUT_NAMES):
        parser.add_argument(f"--{name}", dest=name, metavar="VALUE", help=f"env {env_name(name)}")
    parser.add_argument("--json", action="store_true", help="print the outputs as one JSON object")
    parser.add_argument("--summary-file", type=Path, help="write the markdown summary here")
    return parser


WEBHOOK_SECRET_VARIABLE = "DBT_CLOUD_WEBHOOK_SECRET"  # noqa: S105 - a variable's name


def verify_webhook(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """A webhook's body (a file, or stdin) and its Authorization header checked against the
    secret in an environment variable (never a flag: it would show in the process list)."""
    from .webhook import is_signed, run_id_of  # noqa: PLC0415 - only this subcommand needs it

    parser = argparse.ArgumentParser(
        prog="dbt-cloud-run verify-webhook",
        description="Check that a webhook body was signed by dbt Cloud with the webhook's "
        "secret; print its run id. Exit 0 when signed, 1 when not.",
    )
    parser.add_argument("body", nargs="?", type=Path, help="the raw body (default: stdin)")
    parser.add_argument("--signature", required=True, help="the Authorization header's value")
    parser.add_argument(
        "--secret-env",
        default=WEBHOOK_SECRET_VARIABLE,
        help=f"the variable holding the webhook's secret (default {WEBHOOK_SECRET_VARIABLE})",
    )
    args = parser.parse_args(argv)
    secret = env.get(args.secret_env, "")
    if not secret:
        print(
            f"{args.secret_env} is not set: put the webhook's secret (shown once when the "
            "webhook is created in dbt Cloud) in it.",
            file=sys.stderr,
        )
        return 1
    body = args.body.read_bytes() if args.body is not None else sys.stdin.buffer.read()
    if not is_signed(body, secret, args.signature):
        print(
            "The signature does not match the body: not sent by dbt Cloud with this secret "
            "(or the body was changed on the way). Check the secret; do not act on it.",
            file=sys.stderr,
        )
        return 1
    run_id = run_id_of(body)
    if run_id:
        print(f"run-id={run_id}")
    return 0


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    toolkit.use_utf8_streams()  # the outputs and the log, whatever the terminal's code page
    environ = os.environ if env is None else env
    given = sys.argv[1:] if argv is None else list(argv)
    if given[:1] == ["verify-webhook"]:
        return verify_webhook(given[1:], environ)
    args = build_parser().parse_args(given)
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
