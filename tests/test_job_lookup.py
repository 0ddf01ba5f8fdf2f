"""Jobs by name: the pure matcher (exact name in any case, then project / environment, errors
that list candidates), and `find_jobs` over HTTP against the emulator's jobs list."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dbt_cloud_action.client import DbtCloudClient
from dbt_cloud_action.inputs import InputError, parse_job_names, parse_job_reference
from dbt_cloud_action.job_lookup import (
    MAX_CANDIDATES_SHOWN,
    JobNameError,
    check_distinct,
    describe_job,
    find_jobs,
    match_job,
    pull_request_trigger_warning,
)
from dbt_cloud_action.models import Job, JobTriggers
from dbt_cloud_emulator import Emulator, EmulatorConfig, JobScript, StepScript


def job(
    job_id: int,
    name: str,
    project: tuple[int, str] = (7, "Core"),
    environment: tuple[int, str] = (71, "CI"),
    triggers: JobTriggers | None = None,
) -> Job:
    return Job(
        job_id, 1, name, project[0], environment[0], project_name=project[1],
        environment_name=environment[1], triggers=triggers or JobTriggers(),
    )  # fmt: skip


CORE_CI = job(1, "CI")
FINANCE_CI = job(3, "ci", (8, "Finance"), (81, "Finance CI"))
CORE_NIGHTLY = job(2, "Nightly deploy", environment=(72, "Production"))
CI_V2 = job(4, "CI v2")


def ref(text: str) -> Job:
    return match_job(parse_job_reference(text), [CORE_CI, FINANCE_CI, CORE_NIGHTLY, CI_V2])


def error(text: str, listed: list[Job], *, complete: bool = True) -> str:
    with pytest.raises(JobNameError) as caught:
        match_job(parse_job_reference(text), listed, complete=complete)
    assert isinstance(caught.value, InputError)
    assert caught.value.input_name == "job-name"
    return str(caught.value)


def test_a_unique_exact_name_in_any_case_matches() -> None:
    assert ref("nightly DEPLOY") == CORE_NIGHTLY
    assert ref("CI v2") == CI_V2  # "CI" is also listed (contained), but not the same name
    assert ref("  Nightly   deploy ") == CORE_NIGHTLY  # spaces as in the name


def test_project_and_environment_tell_jobs_of_one_name_apart() -> None:
    assert ref("core / ci / CI") == CORE_CI
    assert ref("Finance / Finance CI / CI") == FINANCE_CI
    assert ref("8 / 81 / ci") == FINANCE_CI  # ids work as qualifiers too


def test_a_name_matching_several_jobs_lists_them_and_says_how_to_choose() -> None:
    message = error("CI", [CORE_CI, FINANCE_CI, CI_V2])
    assert message.startswith("Input 'job-name' line 'CI' matches 2 jobs:")
    assert '#1 "CI" (project Core #7, environment CI #71)' in message
    assert '#3 "ci" (project Finance #8, environment Finance CI #81)' in message
    assert "CI v2" not in message
    assert "'Core / CI / CI'" in message and "job-id" in message


def test_twins_in_one_environment_can_only_be_told_apart_by_id() -> None:
    twin = job(9, "ci")
    message = error("Core / CI / CI", [CORE_CI, twin])
    assert "matches 2 jobs" in message
    assert "They share project and environment: set job-id" in message


def test_at_most_ten_candidates_are_shown() -> None:
    many = [job(i, "Deploy", (i, f"P{i}")) for i in range(1, 15)]
    message = error("Deploy", many)
    assert message.count('"Deploy"') == MAX_CANDIDATES_SHOWN
    assert "and 4 more" in message


def test_no_exact_name_lists_the_jobs_that_contain_it() -> None:
    message = error("Nightly", [CORE_NIGHTLY])
    assert "no job is named exactly 'Nightly'" in message
    assert '#2 "Nightly deploy"' in message
    assert "set job-id" in message


def test_no_job_containing_the_name_says_what_to_check() -> None:
    message = error("Weekly", [])
    assert "no job's name contains 'Weekly'" in message
    assert "account-id" in message


def test_a_wrong_project_or_environment_lists_the_jobs_of_that_name() -> None:
    message = error("Core / Production / CI", [CORE_CI, FINANCE_CI])
    assert "none in that project and environment" in message
    assert "#1" in message and "#3" in message


def test_without_names_from_dbt_cloud_the_error_suggests_ids() -> None:
    bare = Job(9, 1, "CI", 7, 71)  # an older reply: no project or environment objects
    assert match_job(parse_job_reference("7 / 71 / CI"), [bare]) == bare
    message = error("Core / CI / CI", [bare])
    assert "did not return the project or environment names" in message
    assert "'7 / 71 / CI'" in message
    assert "(project #7, environment #71)" in describe_job(bare)


def test_a_name_with_slashes_may_be_given_whole() -> None:
    slashed = job(5, "Deploy / EU / nightly")
    assert match_job(parse_job_reference("deploy / eu / NIGHTLY"), [slashed]) == slashed


def test_a_cut_off_listing_is_never_trusted() -> None:
    message = error("CI", [CORE_CI], complete=False)
    assert "too many to check" in message and "job-id" in message


def test_hostile_names_are_shown_on_one_line() -> None:
    hostile = job(6, "Nightly\n::set-output name=x::y\r\u2028" + "x" * 200)
    message = error("Nightly", [hostile])
    assert "Nightly ::set-output" in message  # listed, on the same line
    assert not any(ch in message for ch in "\n\r\u2028")
    assert "x" * 100 not in message  # a long name is cut


def test_two_lines_naming_one_job_are_refused() -> None:
    references = parse_job_names("CI v2\nCore / CI / CI v2")
    with pytest.raises(JobNameError, match="list each job once"):
        check_distinct(references, [CI_V2, CI_V2])
    check_distinct(references[:1], [CI_V2])


def test_the_warning_for_a_job_dbt_cloud_runs_on_pull_requests_itself() -> None:
    ci = job(1, "CI", triggers=JobTriggers(github_webhook=True))
    gitlab = job(2, "CI", triggers=JobTriggers(git_provider_webhook=True))
    deploy = job(3, "Deploy", triggers=JobTriggers(schedule=True, on_merge=True))
    for warned in (ci, gitlab):
        warning = pull_request_trigger_warning(warned)
        assert warning is not None
        assert "two runs" in warning and "mode: follow" in warning
    assert pull_request_trigger_warning(deploy) is None
    assert pull_request_trigger_warning(job(4, "API only")) is None


# ----- over HTTP ------------------------------------------------------------------------------

STEPS = (StepScript("Build", "dbt build", 1.0),)


@pytest.fixture
def client() -> Iterator[DbtCloudClient]:
    jobs = (
        JobScript(1, "CI", STEPS, job_type="ci", project_id=7, project_name="Core",
                  environment_id=71, environment_name="Core CI"),
        JobScript(2, "Nightly", STEPS, job_type="scheduled", project_id=7,
                  project_name="Core", environment_id=72, environment_name="Core Prod"),
        JobScript(3, "CI", STEPS, job_type="ci", project_id=8, project_name="Finance",
                  environment_id=81, environment_name="Finance CI"),
    )  # fmt: skip
    with (
        Emulator(EmulatorConfig(jobs=jobs)) as emu,
        DbtCloudClient(emu.url, emu.token, emu.account_id) as c,
    ):
        yield c


def test_find_jobs_resolves_each_line_in_order(client: DbtCloudClient) -> None:
    found = find_jobs(client, parse_job_names("nightly\nFinance / Finance CI / ci"))
    assert [j.id for j in found] == [2, 3]
    assert found[1].environment_name == "Finance CI"


def test_find_jobs_refuses_an_ambiguous_or_unknown_name(client: DbtCloudClient) -> None:
    with pytest.raises(JobNameError, match="matches 2 jobs"):
        find_jobs(client, parse_job_names("CI"))
    with pytest.raises(JobNameError, match="no job's name contains"):
        find_jobs(client, parse_job_names("Weekly"))
    with pytest.raises(JobNameError, match="too many to check"):
        find_jobs(client, parse_job_names("i"), max_jobs=2)


# --- dbt-jobs-as-code's [[identifier]] tags ------------------------------------------------

TAGGED = [
    Job(11, 1, "Nightly [[nightly]]", 7, 72),
    Job(12, 1, "Imported [[prod:orders]]", 7, 72),
    Job(13, 1, "Described", 7, 72, description="Loads things [[finance_daily]]"),
    Job(14, 1, "nightly", 7, 72),  # named like the identifier, but untagged
]


@pytest.mark.parametrize(
    ("line", "job_id"),
    [("[[nightly]]", 11), ("[[orders]]", 12), ("[[finance_daily]]", 13), ("nightly", None)],
)
def test_an_identifier_names_the_job_whose_tag_carries_it(line: str, job_id: int | None) -> None:
    reference = parse_job_reference(line)
    if job_id is None:  # a plain line is a name, matched whole: the untagged job
        assert reference.identifier is None
        assert match_job(reference, TAGGED).id == 14
        return
    assert match_job(reference, TAGGED).id == job_id


def test_identifiers_are_case_sensitive_and_an_unknown_one_says_so() -> None:
    with pytest.raises(JobNameError, match=r"carries the dbt-jobs-as-code tag \[\[Nightly\]\]"):
        match_job(parse_job_reference("[[Nightly]]"), TAGGED)


def test_a_qualified_identifier_checks_project_and_environment() -> None:
    assert match_job(parse_job_reference("7 / 72 / [[nightly]]"), TAGGED).id == 11
    with pytest.raises(JobNameError, match="none in that project"):
        match_job(parse_job_reference("8 / 72 / [[nightly]]"), TAGGED)
