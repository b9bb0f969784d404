"""loadtests/handoff.py runs the service's MicroBatcher against a bare executor and a pipe round trip between two
threads, and prints the three p50s."""

from __future__ import annotations

import re

import pytest

from loadtests.handoff import main


def test_prints_three_p50s_per_round_and_gap(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--rounds", "1", "--queries", "20", "--gap-ms", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["round 1, gap 0 ms", "round 1, gap 1 ms"]
    for line in lines:
        floor, plain, batched = map(int, re.findall(r"p50 (\d+) us", line))
        assert 0 < floor and 0 < plain and 0 < batched
