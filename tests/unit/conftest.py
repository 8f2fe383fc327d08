"""Unit tests start no server: a test that tries to is failed, not slowed down."""

import os
import socket
import subprocess

import pytest

from tests.conftest import ON_POSTGRES


class ServerStarted(AssertionError):
    """A unit test tried to start a process or listen on a socket."""


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise ServerStarted(f"unit tests start no server; this one tried {what}")

    return refuse


@pytest.fixture(autouse=True)
def no_servers(monkeypatch):
    """Fail the test on any child process or listening socket; those belong in integration.

    Not on the PostgreSQL pass (SMARTCAB_TEST_DATABASE=postgresql), where the tests of the
    web's pages run again on a real PostgreSQL server, on purpose.
    """
    if ON_POSTGRES:
        return
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("a child process"))
    monkeypatch.setattr(socket.socket, "listen", _refuse("a listening socket"))
    monkeypatch.setattr(os, "fork", _refuse("a fork"))
    monkeypatch.setattr(os, "forkpty", _refuse("a fork"))
    monkeypatch.setattr(os, "system", _refuse("a shell command"))
    monkeypatch.setattr(os, "posix_spawn", _refuse("a child process"))
    monkeypatch.setattr(os, "posix_spawnp", _refuse("a child process"))
