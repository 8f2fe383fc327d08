"""The unit tests' guard: no child process, no listening socket."""

import os
import socket
import subprocess

import pytest

from tests.unit.conftest import ServerStarted


def test_the_guard_refuses_a_child_process_and_a_listening_socket():
    with pytest.raises(ServerStarted):
        subprocess.run(["true"])
    with pytest.raises(ServerStarted):
        os.system("true")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        with pytest.raises(ServerStarted):
            s.listen()
