"""Token authentication on a real two-node cluster (`ray start --head` and `ray start --address`
as separate processes, the way cluster.yaml starts them with RAY_AUTH_MODE=token): clients
without the cluster's token are refused by the GCS and by the job server, and with it both
`ray job submit` and a driver joined with --address run a tiny sweep on the GPU worker. Every Ray process here gets a temporary HOME whose .ray/auth_token
is generated for the test, so the user's own token is neither read nor written."""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

from ray_cluster import BIN, _check_rows, _job_dir, run_driver, submit_sweep, two_node_cluster  # noqa: E402

CONNECT = "import ray; ray.init(address={address!r}, log_to_driver=False); print('CONNECTED')"
# What Ray says when the GCS turns a client away (C++ client log) or when the client has no token.
REFUSED = ("InvalidAuthToken", "AuthenticationError", "Unauthenticated")


def _generate_token(home: Path) -> str:
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "RAY_AUTH_MODE": "token"}
    env.pop("RAY_AUTH_TOKEN", None)
    subprocess.run([str(BIN / "ray"), "get-auth-token", "--generate"], env=env, check=True,
                   capture_output=True, timeout=60)
    return (home / ".ray" / "auth_token").read_text().strip()


def _stranger(env: dict, tmp_path: Path, **extra: str) -> dict:
    """The cluster's environment minus its token: another HOME, and (so a refusal takes ~3 s, not
    Ray's default ~20 s of retries) a short GCS connect window."""
    stranger = tmp_path / "stranger"
    stranger.mkdir(exist_ok=True)
    return {**env, "HOME": str(stranger), "RAY_gcs_server_port_wait_time_s": "3", **extra}


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(330)
def test_token_cluster_refuses_clients_without_the_token_and_runs_a_submitted_sweep(tmp_path):
    from ray._private.utils import get_dashboard_dependency_error

    if get_dashboard_dependency_error():
        pytest.skip("ray[default] (dashboard and job server) is not installed in this environment")
    home = tmp_path / "home"
    token = _generate_token(home)
    work = _job_dir(tmp_path)
    # two_node_cluster waits until a client (with the token) sees both nodes: the positive control
    with two_node_cluster(tmp_path, work, dashboard=True, auth="token", home=home) as (address, dashboard, env):
        strangers = {
            "auth off, no token": _stranger(env, tmp_path, RAY_AUTH_MODE="disabled"),
            "token mode, no token": _stranger(env, tmp_path, RAY_AUTH_MODE="token"),
            "a wrong token": _stranger(env, tmp_path, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN="0" * len(token)),
        }
        # Every check is a separate client process that mostly waits (imports, connect retries),
        # so they run side by side: the test's time is the cluster's, not the sum of its clients.
        with ThreadPoolExecutor(max_workers=4) as pool:
            runs = {who: pool.submit(subprocess.run, [sys.executable, "-c", CONNECT.format(address=address)],
                                     env=stranger_env, capture_output=True, text=True, timeout=90)
                    for who, stranger_env in strangers.items()}
            # the job server (dashboard HTTP) checks the token too
            listing = pool.submit(subprocess.run, [str(BIN / "ray"), "job", "list", "--address", dashboard],
                                  env=strangers["auth off, no token"], capture_output=True, text=True, timeout=90)
            for who, future in runs.items():
                run = future.result()
                assert run.returncode != 0 and "CONNECTED" not in run.stdout, f"{who}: connected"
                assert any(r in run.stderr for r in REFUSED), f"{who}: {run.stderr[-1500:]}"
            listing = listing.result()
            assert listing.returncode != 0, listing.stdout[-1500:]
            assert "401" in listing.stdout + listing.stderr or "nauthorized" in listing.stdout + listing.stderr, \
                listing.stdout[-1500:] + listing.stderr[-1500:]
            # a submitted job and a driver joined with --address, both with the token, at once
            driver = pool.submit(run_driver, work, address, env)
            submit = submit_sweep(dashboard, work, env, auth="token")
            assert submit.returncode == 0, submit.stdout[-3000:] + submit.stderr[-3000:]
            driver.result()
    _check_rows(tmp_path)
    _check_rows(tmp_path, "out-driver")
    assert (home / ".ray" / "auth_token").read_text().strip() == token  # the test's token, untouched
