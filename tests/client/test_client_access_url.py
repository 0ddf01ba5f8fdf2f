"""normalize_access_url: what users paste in, what comes out, and what is refused (and why)."""

import pytest

from dbt_cloud_action.access_url import is_legacy_host, normalize_access_url

CANONICAL = "https://ab123.us1.dbt.com"


@pytest.mark.parametrize(
    "raw",
    [
        "https://ab123.us1.dbt.com",
        "ab123.us1.dbt.com",
        "https://ab123.us1.dbt.com/",
        "  https://ab123.us1.dbt.com  \n",
        "HTTPS://AB123.us1.dbt.com",
        "https://ab123.us1.dbt.com/api/v2",
        "https://ab123.us1.dbt.com/api/v2/",
        "ab123.us1.dbt.com/api/v2",
        "https://ab123.us1.dbt.com/api/v2/accounts/1/jobs/5/",
    ],
)
def test_pasted_forms_become_the_bare_origin(raw: str) -> None:
    assert normalize_access_url(raw) == CANONICAL


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
        ("http://127.0.0.1:8123/api/v2/", "http://127.0.0.1:8123"),
        ("http://localhost:9000/", "http://localhost:9000"),
        ("http://[::1]:9000", "http://[::1]:9000"),
        ("https://emea.dbt.com", "https://emea.dbt.com"),
        ("https://ab123.us1.dbt.com:8443", "https://ab123.us1.dbt.com:8443"),
    ],
)
def test_loopback_http_regional_hosts_and_ports(raw: str, expected: str) -> None:
    assert normalize_access_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "required"),
        ("   ", "required"),
        ("ab123 .us1.dbt.com", "spaces"),
        ("http://ab123.us1.dbt.com", "must use https"),
        ("http://10.0.0.5:8000", "must use https"),
        ("ftp://ab123.us1.dbt.com", "https://"),
        ("https://", "host"),
        ("https://-bad-.dbt.com", "host"),
        ("https://ab123.us1.dbt.com/deploy/1/projects/2/jobs/3", "paths"),
        ("https://ab123.us1.dbt.com/api", "paths"),
        ("https://ab123.us1.dbt.com/?x=1", "query"),
        ("https://ab123.us1.dbt.com/#frag", "query string or fragment"),
        ("https://ab123.us1.dbt.com:99999", "port"),
        ("https://user:hunter2@ab123.us1.dbt.com", "password"),
    ],
)
def test_refusals_say_why_and_what_is_allowed(raw: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as caught:
        normalize_access_url(raw)
    message = str(caught.value)
    assert "https://ab123.us1.dbt.com" in message  # the allowed form, by example
    assert "hunter2" not in message


@pytest.mark.parametrize(
    "raw",
    [
        "https://user:hunter2@ab123.us1.dbt.com",
        "https://ab123.us1.dbt.com/?token=hunter2",
        "https://ab123.us1.dbt.com/api/v2#hunter2",
    ],
)
def test_refusal_does_not_echo_a_secret_pasted_into_the_url(raw: str) -> None:
    with pytest.raises(ValueError) as caught:
        normalize_access_url(raw)
    assert "hunter2" not in str(caught.value)


def test_legacy_host_is_accepted_only_when_given_and_flagged() -> None:
    url = normalize_access_url("cloud.getdbt.com")
    assert url == "https://cloud.getdbt.com"
    assert is_legacy_host(url)
    assert not is_legacy_host(CANONICAL)
    assert not is_legacy_host("https://cloud.getdbt.com.evil.example")
