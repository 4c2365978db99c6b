"""The guard that lets `make test` run two xdist workers (tests/conftest.py): a test without the
`ray` mark or a Ray fixture cannot start or join a Ray, so it can never share ports or a
current-cluster file with the Ray test running beside it."""
import os

import pytest

from conftest import NO_RAY_ADDRESS, uses_ray
from raysweep._core.errors import UserError
from raysweep.driver.preflight import check_address


def test_an_unmarked_test_points_ray_at_a_closed_port():
    assert os.environ["RAY_ADDRESS"] == NO_RAY_ADDRESS
    # what `raysweep sweep` (and any address-less ray.init, which reads RAY_ADDRESS) would hit
    with pytest.raises(UserError, match="RAY_ADDRESS"):
        check_address(os.environ["RAY_ADDRESS"], "RAY_ADDRESS")


@pytest.mark.ray
def test_a_marked_test_keeps_the_callers_ray_address(request):
    # control: the guard is not applied to the tests allowed to start Ray
    assert uses_ray(request.node)
    assert os.environ.get("RAY_ADDRESS") != NO_RAY_ADDRESS
    assert any(m.name == "xdist_group" and m.args == ("ray",) for m in request.node.iter_markers())
