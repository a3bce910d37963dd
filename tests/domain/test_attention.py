"""The inbox's words agree with the code they name: a platform's refusals are the fetch
errors that are neither passing failures nor our key's or plan's problem."""

from app.domain import attention
from app.platforms.contract import TRANSIENT_KINDS, FetchErrorKind


def test_refusals_are_the_platforms_considered_answers_about_a_video() -> None:
    ours = {FetchErrorKind.AUTH, FetchErrorKind.QUOTA_EXHAUSTED}
    assert set(attention.REFUSALS) == {k.value for k in FetchErrorKind} - TRANSIENT_KINDS - ours
