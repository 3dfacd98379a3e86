"""A scripted guest for host-free tests of the runner (pyinfra's operation fixtures in spirit)."""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from provision.guests.transport import Result

Answer = tuple[int, str]  # (exit code, stdout+stderr)


@dataclass(frozen=True)
class Call:
    command: str
    user: str | None
    prelude: str


@dataclass(frozen=True)
class Write:
    path: str
    content: str
    user: str
    sudo: bool


class FakeGuest:
    """The runner's `Shell`, scripted. `answers` maps a command, or any part of one, to what it returns
    (the longest key found in the command wins; a list is answered in turn, its last entry repeating);
    any other command exits 0 and prints nothing. Paths in `current` already hold their content."""

    def __init__(
        self,
        answers: Mapping[str, Answer | list[Answer]] | None = None,
        current: Collection[str] = (),
        unwritable: Collection[str] = (),
        leftovers: Collection[str] = (),
    ) -> None:
        self.answers = {key: list(a) if isinstance(a, list) else [a] for key, a in (answers or {}).items()}
        self.current = set(current)
        self.unwritable = set(unwritable)
        self.leftovers = list(leftovers)  # what an earlier, killed run left running
        self.log = Path("/fake/rehearsal.log")
        self.calls: list[Call] = []
        self.writes: list[Write] = []
        self.notes: list[str] = []

    @property
    def commands(self) -> list[str]:
        return [c.command for c in self.calls]

    def run(
        self, command: str, *, user: str | None = None, prelude: str = "", timeout: float | None = None,
        live: bool = False,
    ) -> Result:  # fmt: skip
        self.calls.append(Call(command, user, prelude))  # a fake command takes no time: its budget is moot
        keys = [key for key in self.answers if key in command]
        if not keys:
            return Result(command, 0, "", 0.0)
        queue = self.answers[max(keys, key=len)]
        exit_code, output = queue.pop(0) if len(queue) > 1 else queue[0]
        return Result(command, exit_code, output, 0.0)

    def sync_file(self, path: str, content: str, *, user: str, sudo: bool) -> bool:
        if path in self.unwritable:
            raise OSError(f"writing {path} failed (exit 1): tee: {path}: No such file or directory")
        if path in self.current:
            return False
        self.writes.append(Write(path, content, user, sudo))
        self.current.add(path)
        return True

    def note(self, text: str) -> None:
        self.notes.append(text)

    def peek(self) -> str:
        return ""

    def settle(self) -> list[str]:
        self.calls.append(Call("settle", None, ""))
        return list(self.leftovers)

    def workspace(self, user: str | None) -> str:
        return f"/fake/work-{user or 'root'}"

    def cleanup(self) -> None:
        self.calls.append(Call("cleanup", None, ""))
