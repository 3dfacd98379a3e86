"""Pick the guest the acceptance suite checks: `--target` (or REHEARSE_TARGET) and `--platform`.

The session fixture brings the guest up and rehearses it through the `rehearse up` command itself,
so the suite always checks a real, freshly rehearsed guest; the same suite runs unchanged on the
podman stand-in, a Vagrant box or any `ssh://user@host`.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests
import testinfra

from provision import cli, platforms
from provision.guests.driver import Driver
from provision.guests.podman import PodmanDriver
from provision.guests.targets import default_target, get_driver, target_kind
from provision.platforms import Platform
from provision.reports.record import Outcome, Report
from provision.tutorial.params import Params


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rehearsal")
    group.addoption(
        "--target",
        default=os.environ.get("REHEARSE_TARGET") or default_target(),
        help="podman, vagrant or ssh://user@host (env REHEARSE_TARGET)",
    )
    group.addoption(
        "--platform",
        default=os.environ.get("REHEARSE_PLATFORM"),
        help=f"{' or '.join(platforms.PLATFORMS)} (default: the target's own)",
    )
    group.addoption("--workdir", type=Path, default=Path(".rehearse"), help="state, logs and reports")
    group.addoption(
        "--reverify",
        action="store_true",
        default=os.environ.get("REHEARSE_REVERIFY") == "1",
        help="check the guest as the last passing rehearsal left it (its report.json), without rehearsing "
        "again (env REHEARSE_REVERIFY=1)",
    )


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses a guest is marked `guest` by what it uses, so `-m "not guest"` never starts one."""
    for item in items:
        if {"rehearsed", "fresh_guest"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.guest)


@dataclass(frozen=True)
class Rehearsed:
    driver: Driver
    platform: Platform
    report: Report
    params: Params
    out: Path  # the state dir: report.json, report.html, junit.xml, rehearsal.log


@pytest.fixture(scope="session")
def rehearsed(pytestconfig: pytest.Config) -> Rehearsed:
    target = pytestconfig.getoption("target")
    platform = platforms.for_target(target_kind(target), pytestconfig.getoption("platform"))
    workdir = pytestconfig.getoption("workdir").resolve()
    out = cli.state_dir(workdir, target, platform.name)
    if pytestconfig.getoption("reverify"):
        return last_passing(target, platform, out)
    code = cli.main(["up", "--target", target, "--platform", platform.name, "--workdir", str(workdir)])
    report = Report.load(out / "report.json")
    if code != 0:
        failed = report.failed_step
        pytest.fail(
            f"rehearsal failed (exit {code}) at step {failed.id if failed else '?'}: "
            f"{failed.error if failed else 'see log'}; log: {out / 'rehearsal.log'}",
            pytrace=False,
        )
    driver = get_driver(target, platform.guest, out)
    return Rehearsed(driver, platform, report, recorded(report), out)


def recorded(report: Report) -> Params:
    """The reader's values the rehearsal used, as its record has them."""
    return Params(**{k: v for k, v in report.values.items() if k in ("user", "server_name")})


def last_passing(target: str, platform: Platform, out: Path) -> Rehearsed:
    """--reverify: the guest the last rehearsal left, provided that rehearsal passed and the guest runs."""
    try:
        report = Report.load(out / "report.json")
    except FileNotFoundError:
        pytest.fail(f"--reverify: no rehearsal to check ({out / 'report.json'} is missing)", pytrace=False)
    driver = get_driver(target, platform.guest, out)
    state = driver.status()
    if report.status != Outcome.PASSED or state != "running":
        pytest.fail(
            f"--reverify: the last rehearsal {report.status} and the guest is {state}; "
            "rehearse again (without --reverify)",
            pytrace=False,
        )
    return Rehearsed(driver, platform, report, recorded(report), out)


@pytest.fixture(scope="session")
def host(rehearsed: Rehearsed) -> testinfra.host.Host:
    """testinfra's host for the rehearsed guest (replaces the plugin's --hosts based fixture)."""
    return testinfra.get_host(rehearsed.driver.host_spec())


@pytest.fixture
def fresh_guest(rehearsed: Rehearsed, tmp_path: Path) -> Iterator[PodmanDriver]:
    """A new podman guest of the rehearsed platform, straight from its image (no step applied),
    removed afterwards whatever the test did."""
    if rehearsed.driver.name != "podman":
        pytest.skip("a second, fresh guest is made with the podman driver only")  # vagrant boots take minutes
    driver = PodmanDriver(replace(rehearsed.platform.guest, name=f"{rehearsed.platform.name}-fresh"), tmp_path)
    try:
        driver.up()
        yield driver
    finally:
        driver.destroy()


@pytest.fixture(scope="session")
def loopback() -> Iterator[requests.Session]:
    """HTTP to the guest's loopback port, never through a proxy the environment names (http_proxy...)."""
    with requests.Session() as session:
        session.trust_env = False
        yield session
