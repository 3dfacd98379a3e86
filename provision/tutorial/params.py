"""The tutorial's placeholders (`user`, `/home/user`, `server_domain_or_IP`) as parameters."""

from dataclasses import dataclass
from string import Template

from provision.layout import APP

# The page the tutorial's app returns; every "you should see" checkpoint compares against it.
PAGE = "<h1 style='color:blue'>Hello There!</h1>"


@dataclass(frozen=True)
class Params:
    """Values the reader substitutes for the tutorial's placeholders."""

    user: str = "deploy"
    # The tutorial's `server_domain_or_IP`. An IP, because both stock default sites stay enabled and
    # trusty's claims `server_name localhost`; the harness requests with `Host: <server_name>` (and
    # Chromium resolves the name to the loopback forward), so this block, not the default, answers.
    server_name: str = "127.0.0.1"

    @property
    def home(self) -> str:
        return f"/home/{self.user}"

    @property
    def project(self) -> str:
        return f"{self.home}/myproject"

    def expand(self, text: str) -> str:
        """Fill `${user}`, `${home}` and `${server_name}` in `text`; `~` at a path's start too."""
        if text.startswith("~/"):
            text = self.home + text[1:]
        # safe_substitute: shell variables such as $VIRTUAL_ENV pass through untouched.
        return Template(text).safe_substitute(user=self.user, home=self.home, server_name=self.server_name)

    def artifact(self, name: str) -> str:
        """An `app/` file with its placeholders filled."""
        return self.expand((APP / name).read_text())
