"""A service refuses a state dir that belongs to another user: not ours to
secure (made with a chown, so it needs root)."""

from __future__ import annotations

import os

import pytest

from client.config import Config
from client.errors import FailedPrecondition
from services.common.server import prepare_state_dir

pytestmark = [pytest.mark.root]


def test_state_dir_of_another_user_is_refused(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    with pytest.raises(FailedPrecondition) as err:
        prepare_state_dir(Config(state_dir=theirs), "images")
    assert "belongs to uid 65534" in str(err.value)
