"""Core's one contract (codes and names of error kinds, reasons, states, lock kinds) as Python
sees it: every kind has a class or a name of its own, the same names C and Java use."""

from __future__ import annotations

import typing

import pytest

import zkha
from zkha import _errors, _zkha


def test_every_error_kind_reaches_a_class_of_its_own() -> None:
    kinds = _zkha.error_kinds()
    assert len(kinds) >= 17
    seen: dict[type, str] = {}
    for code, name, class_name in kinds:
        e = _zkha.error_of_kind(code, f"failed as {name}")
        assert type(e) is getattr(zkha, class_name), name
        assert type(e) is not zkha.ZkhaError, f"{name} has no class of its own"
        assert type(e) not in seen, f"{name} and {seen.get(type(e))} share {type(e).__name__}"
        seen[type(e)] = name
        assert e.kind == name
        assert str(e) == f"failed as {name}"
    # and every class zkha exports is some kind's
    classes = {getattr(_errors, n) for n in _errors.__all__} - {zkha.ZkhaError}
    assert classes == set(seen)


def test_outcome_unknown_is_cores_verdict() -> None:
    code = {name: c for c, name, _ in _zkha.error_kinds()}
    assert _zkha.error_of_kind(code["connection_loss"], "x").outcome_unknown is True
    assert _zkha.error_of_kind(code["timeout"], "x").outcome_unknown is True
    assert _zkha.error_of_kind(code["node_exists"], "x").outcome_unknown is False
    assert _zkha.error_of_kind(code["not_leader"], "x").outcome_unknown is False


def test_an_unknown_code_is_an_invalid_argument_naming_it() -> None:
    e = _zkha.error_of_kind(99, "x")
    assert isinstance(e, zkha.InvalidArgumentError)
    assert "error kind must be one of" in str(e) and "got 99" in str(e)


def test_type_literals_are_cores_names() -> None:
    table = dict(_zkha.contract())

    def names(what: str) -> list[str]:
        return [name for _, name in table[what]]

    assert list(typing.get_args(zkha.State)) == names("connection state")
    assert list(typing.get_args(zkha.Reason)) == names("reason")
    assert list(typing.get_args(zkha.LockKind)) == names("lock kind")
    assert list(typing.get_args(zkha.NodeMode)) == names("node mode")


def test_raised_errors_carry_their_kind(client: zkha.Client) -> None:
    with pytest.raises(zkha.InvalidArgumentError) as bad:
        client._c.acquire("mutx", "/x")
    assert bad.value.kind == "invalid_argument" and bad.value.outcome_unknown is False
    assert "unknown lock kind" in str(bad.value) and "semaphore" in str(bad.value)
    assert client.state in typing.get_args(zkha.State)


def test_connect_strings_are_parsed_by_the_core() -> None:
    hosts, chroot = _zkha.parse_connect_string("zk1:2181, [::1]:2182,zk3/app/x")
    assert hosts == [("zk1", 2181), ("::1", 2182), ("zk3", 2181)]
    assert chroot == "/app/x"
    with pytest.raises(zkha.InvalidArgumentError, match="99999"):
        _zkha.parse_connect_string("zk1:99999")
