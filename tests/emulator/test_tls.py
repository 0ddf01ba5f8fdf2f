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
