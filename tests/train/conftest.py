import pytest


@pytest.fixture
def one_thread():
    """Tiny models train several times faster on one thread than on two busy cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
