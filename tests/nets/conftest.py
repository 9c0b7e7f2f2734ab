import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Small networks run fastest on one thread; several threads on a busy
    2-core machine can make them orders of magnitude slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
