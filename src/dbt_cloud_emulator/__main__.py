"""`python -m dbt_cloud_emulator serve --port N --config FILE`: the emulator on its own."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from dbt_cloud_emulator.config import ConfigError, EmulatorConfig
from dbt_cloud_emulator.emulator import Emulator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dbt-cloud-emulator", description="A dbt Cloud API v2 emulator on loopback."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API until interrupted (Ctrl-C)")
    serve.add_argument("--port", type=int, default=8765, help="port to listen on; 0 = any free")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--config", help="JSON config file (default: the built-in demo account)")
    serve.add_argument(
        "--time-scale", type=float, default=1.0, help="emulated seconds per real second"
    )
    serve.add_argument(
        "--tls",
        action="store_true",
        help="serve https with a throwaway certificate; its CA file is printed at start",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = EmulatorConfig.from_file(args.config) if args.config else EmulatorConfig()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        emulator = Emulator(
            config, time_scale=args.time_scale, port=args.port, host=args.host, tls=args.tls
        )
        emulator.start()
    except (OSError, ValueError) as exc:
        print(
            f"error: cannot start the emulator on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        return 1
    jobs = ", ".join(f"{job.id} ({job.name})" for job in config.jobs)
    print(f"dbt Cloud emulator listening on {emulator.url}", flush=True)
    print(f"account {config.account_id}, token {config.token!r}, jobs: {jobs}", flush=True)
    if args.tls:
        print(f"CA certificate: {emulator.ca_path} (e.g. REQUESTS_CA_BUNDLE)", flush=True)
    try:
        stop.wait()
    finally:
        emulator.stop()
    print("dbt Cloud emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
