"""A dbt Cloud Administrative API v2 emulator on loopback, for the demo, tests and benchmarks."""

from dbt_cloud_emulator.clock import ManualClock
from dbt_cloud_emulator.config import (
    ConfigError,
    EmulatorConfig,
    JobScript,
    NodeResult,
    PullRequestScript,
    StepScript,
    TokenAccess,
    default_config,
)
from dbt_cloud_emulator.emulator import Emulator
from dbt_cloud_emulator.faults import Fault
from dbt_cloud_emulator.server import LoggedRequest

__all__ = [
    "ConfigError",
    "Emulator",
    "EmulatorConfig",
    "Fault",
    "JobScript",
    "LoggedRequest",
    "ManualClock",
    "NodeResult",
    "PullRequestScript",
    "StepScript",
    "TokenAccess",
    "default_config",
]
