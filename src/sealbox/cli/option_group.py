"""Option groups: a dataclass of typer options that several commands share, as one parameter.

A command declares one keyword parameter typed with the group's dataclass (``etcd:
EtcdOptions``, ``kube: KubeOptions``); :func:`option_group` makes the decorator that spells it out
as the dataclass's fields (each field's ``typer.Option`` rides in its ``Annotated`` type), so
``--help`` lists the shared flags in its place, and calls the command with one instance built
from them. Every parameter becomes keyword-only (typer passes them all by name), so the shared
ones can stand anywhere in the list.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import fields
from typing import Any, get_type_hints

__all__ = ["option_group"]

Command = Callable[..., None]


def option_group(options: type[Any], parameter: str) -> Callable[[Command], Command]:
    """The decorator that replaces a command's ``parameter: options`` with the group's flags.

    The decorator raises TypeError (a programming error, at import) when the command lacks the
    parameter or declares one of the group's options itself.
    """
    # typer reads each parameter's type from the signature, so it must be evaluated, not text.
    types = get_type_hints(options, include_extras=True)
    shared = [
        inspect.Parameter(
            item.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=item.default,
            annotation=types[item.name],
        )
        for item in fields(options)
    ]
    names = [item.name for item in shared]

    def decorate(command: Command) -> Command:
        own = inspect.signature(command, eval_str=True).parameters
        if parameter not in own or own[parameter].annotation is not options:
            raise TypeError(
                f"{command.__name__} has no parameter `{parameter}: {options.__name__}`"
            )
        if clash := set(names) & set(own):
            raise TypeError(
                f"{command.__name__} declares shared {parameter} options itself: {clash}"
            )
        parameters: list[inspect.Parameter] = []
        for item in own.values():
            if item.name == parameter:
                parameters.extend(shared)
            else:
                parameters.append(item.replace(kind=inspect.Parameter.KEYWORD_ONLY))

        @functools.wraps(command)
        def with_options(**values: Any) -> None:
            group = options(**{name: values.pop(name) for name in names})
            command(**values, **{parameter: group})

        # inspect.signature (which typer calls) prefers __signature__ to following __wrapped__;
        # mypy knows no such attribute on a function, hence the __dict__.
        with_options.__dict__["__signature__"] = inspect.Signature(
            parameters, return_annotation=None
        )
        with_options.__annotations__ = {item.name: item.annotation for item in parameters}
        return with_options

    return decorate
