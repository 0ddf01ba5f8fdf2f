"""The emulator over https with a throwaway certificate, for clients that only speak https."""

from __future__ import annotations

import pytest
import requests

from dbt_cloud_emulator import Emulator


def test_https_with_the_throwaway_ca_trusted() -> None:
    with Emulator(tls=True) as emu:
        assert emu.url.startswith("https://127.0.0.1:")
        ca = emu.ca_path
        headers = {"Authorization": f"Token {emu.token}"}
        url = f"{emu.url}/api/v2/accounts/1/jobs/"
        reply = requests.get(url, headers=headers, verify=str(ca), timeout=5)
        assert reply.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):  # not trusted without the CA
            requests.get(url, headers=headers, timeout=5)
        assert ca.is_file()
    assert not ca.exists()  # thrown away with the emulator


def test_plain_http_has_no_ca() -> None:
    with Emulator() as emu:
        assert emu.url.startswith("http://")
        with pytest.raises(RuntimeError, match="tls=True"):
            _ = emu.ca_path


def test_plain_http_serves_without_cryptography() -> None:
    """The self-test job starts the emulator on the runner's bare Python: no `cryptography`."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import sys, urllib.request\n"
        "sys.modules['cryptography'] = None  # importing it now raises ImportError\n"
        "from dbt_cloud_emulator import Emulator\n"
        "with Emulator() as emu:\n"
        "    request = urllib.request.Request(f'{emu.url}/api/v2/accounts/1/jobs/',"
        " headers={'Authorization': f'Token {emu.token}'})\n"
        "    print(urllib.request.urlopen(request, timeout=5).status)\n"
    )
    src = Path(__file__).resolve().parents[2] / "src"
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "200"
