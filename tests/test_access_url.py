"""Access URL normalisation: what users paste becomes one safe base URL, or a clear refusal."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dbt_cloud_action.access_url import is_legacy_host, normalize_access_url


@pytest.mark.parametrize(
    "pasted",
    [
        "https://ab123.us1.dbt.com",
        "ab123.us1.dbt.com",
        "https://ab123.us1.dbt.com/",
        "  https://AB123.us1.dbt.com/api/v2 ",
        "https://ab123.us1.dbt.com/api/v2/",
        "https://ab123.us1.dbt.com/api/v2/accounts/1/jobs/5/run/",
        "ab123.us1.dbt.com:443/api/v3/accounts/1/",
        "https://ab123.us1.dbt.com.",
        "https://ab123.us1.dbt.com/\n",
    ],
)
def test_pasted_forms_normalise_to_the_base(pasted: str) -> None:
    assert normalize_access_url(pasted) == "https://ab123.us1.dbt.com"


@pytest.mark.parametrize(
    ("pasted", "expected"),
    [
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://localhost:8765/api/v2/", "http://localhost:8765"),
        ("http://[::1]:8765", "http://[::1]:8765"),
        ("emea.dbt.com", "https://emea.dbt.com"),
        ("https://cloud.example.internal:8443", "https://cloud.example.internal:8443"),
        ("https://10.1.2.3", "https://10.1.2.3"),
    ],
)
def test_other_accepted_urls(pasted: str, expected: str) -> None:
    assert normalize_access_url(pasted) == expected


@pytest.mark.parametrize(
    ("pasted", "problem"),
    [
        ("", "is required"),
        ("   ", "is required"),
        ("http://ab123.us1.dbt.com", "must use https"),
        ("http://10.0.0.1", "must use https"),
        ("ftp://ab123.us1.dbt.com", "must be an https:// URL"),
        ("https://ab 123.us1.dbt.com", "spaces"),
        ("https://tok@ab123.us1.dbt.com", "user name or password"),
        ("https://ab123.us1.dbt.com/?x=1", "query string"),
        ("https://ab123.us1.dbt.com/#frag", "query string or fragment"),
        ("https://ab123.us1.dbt.com/deploy/1/projects/2/jobs/3", "only the scheme and host"),
        ("https://ab123.us1.dbt.com/apiv2", "only the scheme and host"),
        ("ab123", "full host name"),
        ("https://ab_1.dbt.com", "valid host name"),
        ("https://ünï.dbt.com", "xn--"),
        ("https://ab123.us1.dbt.com:99999", "invalid port"),
        ("https://ab123.us1.dbt.com:0", "invalid port"),
        ("https://[::1", "not a valid URL"),
        ("https://", "host name"),
    ],
)
def test_refused_urls_say_what_to_do(pasted: str, problem: str) -> None:
    with pytest.raises(ValueError, match="Account settings") as caught:
        normalize_access_url(pasted)
    assert problem in str(caught.value)


def test_empty_url_says_cloud_getdbt_com_is_not_a_default() -> None:
    with pytest.raises(ValueError, match=r"cloud\.getdbt\.com is no longer a default"):
        normalize_access_url("")


def test_legacy_host() -> None:
    assert is_legacy_host(normalize_access_url("cloud.getdbt.com/api/v2/"))
    assert not is_legacy_host("https://ab123.us1.dbt.com")
    assert not is_legacy_host("https://cloud.getdbt.com.evil.example")


PIECES = [
    "https://", "http://", "ab.us1.dbt.com", "localhost", "127.0.0.1", "[::1]", ":", "80",
    "/", "api", "/api/v2", "@", "?", "#", " ", "\n", "é", "-", ".", "[", "]", "%",
]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(st.sampled_from(PIECES), max_size=8).map("".join)))
def test_any_string_normalises_to_a_fixed_point_or_is_refused(pasted: str) -> None:
    try:
        url = normalize_access_url(pasted)
    except ValueError as error:
        assert str(error)
        return
    assert url.startswith(("https://", "http://localhost", "http://127.0.0.1", "http://[::1]"))
    assert normalize_access_url(url) == url
    assert not url.endswith("/") and "@" not in url and "?" not in url and " " not in url
