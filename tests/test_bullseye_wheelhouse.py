"""The trusty path's Python half, proven on a real Python 2.7: bullseye with trusty's offline pip steps.

trusty's steps 4.1 and 5.1 install from the wheelhouse the host downloads (`wheelhouse.py`), with
`--no-index`. No trusty box runs here; bullseye's Python 2.7.18 does. A bullseye variant takes
trusty's two pip deviations, its guest gets the wheelhouse where the Vagrant guest reads it, and the
whole tutorial must then pass: the page served by uWSGI through nginx, from the pinned releases.
"""

import subprocess
from dataclasses import replace
from pathlib import PurePosixPath

import pytest
import testinfra

from provision import platforms
from provision.commands import run_steps
from provision.guests import wheelhouse
from provision.guests.podman import PodmanDriver
from provision.guests.targets import target_kind
from provision.platforms import Mode
from provision.reports.record import Outcome
from provision.tutorial.params import Params

pytestmark = pytest.mark.guest

OFFLINE_STEPS = ("4.1", "5.1")


TRUSTY = platforms.get("trusty")
BULLSEYE = platforms.get("bullseye")
# bullseye, its own guest, with trusty's offline pip steps
VARIANT = replace(
    BULLSEYE,
    name="bullseye-wheelhouse",
    deviations=(*BULLSEYE.deviations, *(d for d in TRUSTY.deviations if d.step in OFFLINE_STEPS)),
)


@pytest.fixture
def driver(pytestconfig: pytest.Config) -> PodmanDriver:
    if target_kind(pytestconfig.getoption("target")) != "podman":
        pytest.skip("the bullseye guest is made with the podman driver")
    workdir = pytestconfig.getoption("workdir").resolve() / "podman-bullseye-wheelhouse"
    workdir.mkdir(parents=True, exist_ok=True)
    return PodmanDriver(VARIANT.guest, workdir)


def test_trusty_wheelhouse_installs_offline_on_bullseye_and_serves_the_page(driver: PodmanDriver) -> None:
    wheelhouse.ensure()
    driver.destroy()  # a new guest: what an earlier run installed must not stand in for the wheelhouse
    try:
        driver.up()
        guest_dir = PurePosixPath(wheelhouse.GUEST_DIR)
        subprocess.run(["podman", "exec", driver.container, "mkdir", "-p", str(guest_dir.parent)], check=True)
        subprocess.run(["podman", "cp", str(wheelhouse.HOST_DIR), f"{driver.container}:{guest_dir}"], check=True)

        report = run_steps(driver, VARIANT, Params(), Mode.ADAPTED, driver.workdir, progress=lambda s: None)

        failed = report.failed_step
        assert report.status == Outcome.PASSED, f"step {failed.id}: {failed.error}" if failed else report.status
        assert [c.id for s in report.steps for c in s.claims if not c.passed] == []
        ran = {s.id: [c.command for c in s.commands] for s in report.steps}
        for step_id in OFFLINE_STEPS:  # trusty's own commands ran, offline, and nothing else installed
            assert [c for c in ran[step_id] if "pip install" in c] == [
                c for d in TRUSTY.deviations if d.step == step_id for c in d.changes["run"]
            ]
            assert all("--no-index" in c for c in ran[step_id] if "pip install" in c)

        host = testinfra.get_host(driver.host_spec())
        venv = f"{Params().project}/myprojectenv"
        assert host.check_output(f"{venv}/bin/python -c 'import sys; print(sys.version[:3])'") == "2.7"
        installed = host.pip.get_packages(pip_path=f"{venv}/bin/pip")
        got = {name.lower(): meta["version"] for name, meta in installed.items()}
        pinned = {name: str(req.specifier).removeprefix("==") for name, req in wheelhouse.pins().items()}
        step_51 = ("flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click", "uwsgi")
        assert {n: got.get(n) for n in step_51} == {n: pinned[n] for n in step_51}
        system = host.pip.get_packages(pip_path="/usr/local/bin/pip")
        assert {n.lower(): m["version"] for n, m in system.items()}.get("virtualenv") == pinned["virtualenv"]
    finally:
        driver.destroy()
