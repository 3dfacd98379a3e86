"""The tutorial's placeholders are checked on construction: hostile values never reach a guest."""

import pytest

from provision.errors import UsageError
from provision.tutorial.params import Params, Words

# Each value is rejected in both fields (a user or a server name made of it).
HOSTILE = {
    "semicolon": "x;touch /tmp/pwned;#",
    "command substitution": "$(id)",
    "backticks": "`id`",
    "pipe": "a|b",
    "ampersand": "a&b",
    "single quote": "a'b",
    "double quote": 'a"b',
    "newline": "a\nb",
    "trailing newline": "deploy\n",
    "space": "a b",
    "dot dot": "..",
    "parent path": "../etc",
    "leading hyphen": "-oProxyCommand",
    "over-long": "a" * 300,
    "empty": "",
    "cyrillic lookalike": "dеploy",  # noqa: RUF001 - U+0435, the point of the test
    "fullwidth lookalike": "ｄeploy",  # noqa: RUF001
    "nginx block": "x; return 200",
    "slash": "a/b",
}
HOSTILE_USERS = {
    **HOSTILE,
    "uppercase": "Deploy",
    "leading digit": "1deploy",
    "33 chars": "a" * 33,
    "dot": "de.ploy",
    "root": "root",
    "www-data": "www-data",
    "nobody": "nobody",
    "_apt": "_apt",
}
HOSTILE_SERVER_NAMES = {
    **HOSTILE,
    "IPv6 scope id": "fe80::1%;id",
    "bad IPv4": "127.0.0.256",
    "label ends in hyphen": "host-.example.com",
    "label starts with hyphen": "-host.example.com",
    "empty label": "a..b",
    "trailing dot": "example.com.",
    "64-char label": "a" * 64 + ".com",
    "254 chars": ".".join(["a" * 63] * 3 + ["a" * 62]),
    "underscore": "my_host",
    "port": "example.com:80",
    "wildcard": "*.example.com",
    "brackets": "[::1]",
    "IPv6 loopback": "::1",
    "IPv6": "2001:db8::10",
}
GOOD_USERS = ["deploy", "sammy", "a_b-1", "_x", "user", "a" * 32]
GOOD_SERVER_NAMES = [
    "127.0.0.1",
    "example.com",
    "my-host.example.org",
    "localhost",
    "EXAMPLE.com",
    ".".join(["a" * 63] * 3 + ["a" * 61]),  # 253 chars
]


@pytest.mark.parametrize("value", HOSTILE_USERS.values(), ids=HOSTILE_USERS.keys())
def test_a_hostile_user_is_refused_naming_the_field(value):
    with pytest.raises(UsageError, match=r"^user .* is not allowed") as e:
        Params(user=value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("value", HOSTILE_SERVER_NAMES.values(), ids=HOSTILE_SERVER_NAMES.keys())
def test_a_hostile_server_name_is_refused_naming_the_field(value):
    with pytest.raises(UsageError, match=r"^server_name .* is not allowed") as e:
        Params(server_name=value)
    assert "\n" not in str(e.value)


def test_the_message_says_what_is_allowed_and_stays_short():
    with pytest.raises(UsageError) as e:
        Params(user="a" * 300)
    assert "lowercase letter" in str(e.value) and len(str(e.value)) < 200
    with pytest.raises(UsageError, match="system account"):
        Params(user="root")
    with pytest.raises(UsageError, match="IPv4 address or a DNS hostname"):
        Params(server_name="a b")
    with pytest.raises(UsageError, match="an IPv6 address would need brackets in URLs and Host headers"):
        Params(server_name="::1")


def test_a_non_string_is_refused():
    with pytest.raises(UsageError, match=r"^user int"):
        Params(user=0)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"^server_name NoneType"):
        Params(server_name=None)  # type: ignore[arg-type]


@pytest.mark.parametrize("user", GOOD_USERS)
def test_a_good_user_is_accepted(user):
    assert Params(user=user).home == f"/home/{user}"


@pytest.mark.parametrize("name", GOOD_SERVER_NAMES)
def test_a_good_server_name_is_accepted(name):
    assert Params(server_name=name).expand("server_name ${server_name};") == f"server_name {name};"


def test_the_defaults_are_accepted_and_the_tutorials_placeholder_word_is_no_server_name():
    assert Params() == Params(user="deploy", server_name="127.0.0.1")
    # drift renders the files in the tutorial's own words through `Words`, which checks nothing.
    assert Words(user="user", server_name="server_domain_or_IP").expand("${server_name}") == "server_domain_or_IP"
    with pytest.raises(UsageError, match=r"^server_name 'server_domain_or_IP' is not allowed"):
        Params(server_name="server_domain_or_IP")


def test_a_usage_error_is_a_value_error_with_the_usage_exit_status():
    with pytest.raises(ValueError) as e:
        Params(user="root")
    assert isinstance(e.value, UsageError) and e.value.exit_code == 2
