from __future__ import annotations

import pytest

from moderation.prompt_filter import PromptModerator


@pytest.fixture(scope="session")
def moderator() -> PromptModerator:
    return PromptModerator()
