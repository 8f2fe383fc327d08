"""Which addresses a contact's channel may reach: public ones, and what the deployment lists."""

import pytest

from services.common.errors import ConfigError
from services.notifier.egress import Egress
from services.notifier.settings import Settings


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.20",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "::1",
        "fe80::1%eth0",
        "fd00::5",
        "::ffff:10.0.0.1",  # IPv4-mapped
        "::127.0.0.1",  # IPv4-compatible
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "not an address",
    ],
)
def test_addresses_of_a_private_network_are_refused(address):
    assert not Egress().permits("somewhere.example", address)


@pytest.mark.parametrize("address", ["1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_reached(address):
    assert Egress().permits("ntfy.sh", address)


def test_the_deployment_lists_names_addresses_and_networks_of_its_own():
    egress = Egress.parse("ntfy.lan, 192.168.1.0/24,10.9.9.9", "mail.lan")
    assert egress.permits("NTFY.lan.", "192.168.7.7")  # by name, whatever it resolves to
    assert egress.permits("mail.lan", "10.0.0.25")  # the SMTP server
    assert egress.permits("anything", "192.168.1.44") and egress.permits("x", "10.9.9.9")
    assert not egress.permits("other.lan", "192.168.7.7")
    assert not egress.permits("anything", "10.9.9.8")


def test_a_listed_entry_that_is_no_host_stops_the_notifier():
    with pytest.raises(ConfigError, match="NOTIFIER_ALLOWED_HOSTS: 'http://x' is neither"):
        Settings.from_env({"NOTIFIER_ALLOWED_HOSTS": "ok.lan,http://x"})
    settings = Settings.from_env({"NOTIFIER_ALLOWED_HOSTS": "ok.lan", "SMTP_HOST": "mx.lan"})
    assert settings.egress.names == {"ok.lan", "mx.lan"}
