"""``sealbox.errors`` draws its tree in its docstring; the drawing is the truth, class by class."""

from __future__ import annotations

import re

import sealbox.errors as errors

_LINE = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+)\s{2,}(?P<text>.+)$")


def _drawing() -> list[tuple[int, str, str]]:
    """(depth, class name, description) for each line of the drawn tree."""
    doc = errors.__doc__ or ""
    block = doc.split("::", 1)[1].split("\n\n", 2)[1]
    rows = []
    for line in block.splitlines():
        match = _LINE.match(line.strip("\n")[4:])
        assert match is not None, line
        depth = len(match["indent"]) // 4
        rows.append((depth, match["name"], match["text"]))
    return rows


def test_every_drawn_class_has_the_drawn_parent_and_exit_code() -> None:
    parents: list[str] = []
    drawn = set()
    for depth, name, text in _drawing():
        parents[depth:] = [name]
        cls = getattr(errors, name)
        drawn.add(name)
        if depth:
            assert cls.__bases__ == (getattr(errors, parents[depth - 1]),), name
        exit_code = re.search(r"\(exit (\d)\)", text)
        expected = int(exit_code[1]) if exit_code else None
        if expected is not None:
            assert cls.exit_code == expected, name
        elif depth:
            assert cls.exit_code == cls.__bases__[0].exit_code, f"{name} needs (exit N) drawn"
    public = {
        name
        for name in errors.__all__
        if isinstance(getattr(errors, name), type) and issubclass(getattr(errors, name), Exception)
    }
    assert drawn == public


def test_a_refused_credential_is_unavailable_not_a_rejected_request() -> None:
    assert issubclass(errors.AccessDenied, errors.BackendUnavailable)
    assert not issubclass(errors.AccessDenied, errors.BackendRejected)
    assert issubclass(errors.CredentialError, errors.AccessDenied)
    assert issubclass(errors.PluginUnhealthy, errors.BackendUnavailable)
