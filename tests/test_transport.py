"""The transport on a real guest: a `live` command's output can be peeked at while it runs."""

import threading
import time

import pytest

from provision.guests.transport import Guest

pytestmark = pytest.mark.guest


def test_peek_shows_a_live_commands_last_line_while_it_runs(rehearsed, tmp_path):
    guest = Guest(rehearsed.driver.host_spec(), tmp_path / "rehearsal.log")
    command = "for i in 1 2 3 4; do echo line$i; echo oops$i >&2; sleep 0.5; done"
    results = []
    runner = threading.Thread(target=lambda: results.append(guest.run(command, user=rehearsed.params.user, live=True)))
    runner.start()
    seen = set()
    while runner.is_alive():
        seen.add(guest.peek())
        time.sleep(0.1)
    runner.join()
    [result] = results
    # seen in the middle, not only at the end; stderr comes in the same stream
    assert seen & {"line2", "oops2", "line3", "oops3"}
    assert result.exit_code == 0
    assert result.output.splitlines() == [f"{kind}{i}" for i in range(1, 5) for kind in ("line", "oops")]
    assert guest.peek() == "oops4"
