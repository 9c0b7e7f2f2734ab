import pytest

from pnas.space import PnasSpace


@pytest.fixture(scope="module")
def space() -> PnasSpace:
    return PnasSpace(5)
