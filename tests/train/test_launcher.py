"""The local multi-worker launcher's port choice and TF_CONFIG."""

import random
import socket

from irpath.train.launcher import ephemeral_range, free_ports, strip_flag, worker_configs


def test_free_ports_are_distinct_bindable_and_outside_the_ephemeral_range():
    lo, _ = ephemeral_range()
    ports = free_ports(4, rng=random.Random(0))
    assert len(set(ports)) == 4
    assert all(p < lo for p in ports)
    for p in ports:  # each can be bound now
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", p))


def test_free_ports_skips_a_port_that_is_taken():
    first = free_ports(1, rng=random.Random(7))[0]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", first))
        held.listen()
        again = free_ports(1, rng=random.Random(7))[0]  # same draws: the first is busy now
    assert again != first


def test_worker_configs_and_strip_flag():
    cfgs = worker_configs(2, [12001, 12002])
    assert cfgs[0]["cluster"]["worker"] == ["127.0.0.1:12001", "127.0.0.1:12002"]
    assert [c["task"]["index"] for c in cfgs] == [0, 1]
    assert strip_flag(["a", "--local-workers", "2", "--x=1", "--local-workers=3"],
                      "--local-workers") == ["a", "--x=1"]
