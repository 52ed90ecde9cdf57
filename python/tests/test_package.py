"""Package shape: stubs cover the native module, public names, py.typed."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import zkha
import zkha._zkha as native
import zkha.aio
import zkha.flink

PKG = Path(zkha.__file__).parent


def _stub_names() -> dict[str, set[str]]:
    tree = ast.parse((PKG / "_zkha.pyi").read_text())
    out: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = {
                n.name for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            }
        elif isinstance(node, ast.FunctionDef):
            out[node.name] = set()
    return out


def test_stubs_cover_the_native_module() -> None:
    stubs = _stub_names()
    public = {n for n in dir(native) if not n.startswith("_")}
    assert public == set(stubs), public ^ set(stubs)
    for name, methods in stubs.items():
        obj = getattr(native, name)
        if isinstance(obj, type):
            have = {m for m in dir(obj) if not m.startswith("_")}
            want = {m for m in methods if not m.startswith("_")}
            assert have == want, (name, have ^ want)


def test_public_names_and_typing() -> None:
    assert (PKG / "py.typed").exists()
    for name in zkha.__all__:
        obj = getattr(zkha, name)
        # type aliases (State, Reason, Op, ...) cannot carry a docstring; their docs are in
        # _types.py beside them
        assert obj.__doc__ or typing.get_origin(obj) is not None, name
    for name in zkha.aio.__all__ + zkha.flink.__all__:
        assert hasattr(zkha.aio, name) or hasattr(zkha.flink, name), name
    assert all(
        issubclass(getattr(zkha, n), zkha.ZkhaError) for n in zkha.__all__ if n.endswith("Error")
    )
