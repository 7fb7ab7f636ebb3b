from __future__ import annotations

import pytest

from moderation.policy import load_policy
from moderation.prompt_filter import PromptModerator


@pytest.fixture(scope="session")
def moderator() -> PromptModerator:
    """The shipped policy's rules acting alone (text_model off): what the rule tests test."""
    return PromptModerator(load_policy().rules_only())


@pytest.fixture(scope="session")
def shipped_moderator() -> PromptModerator:
    """The shipped policy as it runs: rules weighed with the learned model."""
    return PromptModerator()
