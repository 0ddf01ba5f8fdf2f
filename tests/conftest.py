"""Suite-wide test settings."""

from hypothesis import settings

# Property tests check correctness, not speed: on CI's two busy cores a single example can take
# longer than Hypothesis' default 200 ms deadline and fail as "flaky" for no fault of the code.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")
