"""Where the checkout's parts are: the one place that knows the project's root."""

from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent  # the checkout: Vagrantfile, app/, tests/
APP = PROJECT / "app"  # the tutorial's artifacts, byte for byte with placeholders
