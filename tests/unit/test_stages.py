"""loadtests/stages.py: ordering and matching of the server's stamps with the client's."""

from __future__ import annotations

from loadtests.stages import ANSWERED, SENT, stage_order


def test_client_stamps_bracket_the_server_stages_even_when_the_client_stamps_first() -> None:
    # the client may have the answer before the server's coroutine runs again after its write
    requests = [
        {SENT: 0.0, "bytes received": 0.001, "handler starts": 0.002, ANSWERED: 0.004, "late server stamp": 0.0041},
        {SENT: 1.0, "bytes received": 1.001, "handler starts": 1.002, ANSWERED: 1.005, "late server stamp": 1.0052},
    ]
    assert stage_order(requests) == [SENT, "bytes received", "handler starts", "late server stamp", ANSWERED]


def test_only_stages_every_request_has_are_ordered() -> None:
    requests = [
        {SENT: 0.0, "bytes received": 0.001, "retried": 0.002, ANSWERED: 0.003},
        {SENT: 1.0, "bytes received": 1.001, ANSWERED: 1.003},
    ]
    assert stage_order(requests) == [SENT, "bytes received", ANSWERED]
