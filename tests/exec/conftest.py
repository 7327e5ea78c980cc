import pytest

from tests.exec.helpers import load_images


@pytest.fixture(scope="session")
def images():
    return load_images()
