"""The method options of ``train`` and ``compare``, generated from :class:`MethodOptions`.

One command-line option per dataclass field: its name is the field's with dashes
(``--label-radius``), its help and default the field's, so a new knob of a method is one new
field and reaches every command that trains. :func:`with_method_options` puts them in place
of a command's ``options`` parameter and hands the command the built :class:`MethodOptions`.
Kept free of torch, as the rest of the command line's option handling.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import MISSING, Field, fields
from typing import Annotated, Any, TypeVar

import typer

from labelspace.models.options import MethodOptions

F = TypeVar("F", bound=Callable[..., Any])
OPTION_FIELDS: tuple[Field, ...] = tuple(fields(MethodOptions))


def _cli_type(option: Field) -> type:
    """The type the command line parses: the field's, without ``None`` (a value stands for it)."""
    hint = typing.get_type_hints(MethodOptions)[option.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def _parameter(option: Field) -> inspect.Parameter:
    annotation = Annotated[_cli_type(option), typer.Option(help=option.metadata["help"])]
    default = option.default if option.default is not MISSING else option.default_factory()
    return inspect.Parameter(
        option.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation
    )


def method_options(values: dict[str, Any]) -> MethodOptions:
    """The :class:`MethodOptions` of the command-line values (a field's ``none`` value, such as
    ``--label-radius 0``, stands for ``None``)."""
    given = {}
    for option in OPTION_FIELDS:
        value = values[option.name]
        if "none" in option.metadata and value == option.metadata["none"]:
            value = None
        given[option.name] = value
    options = MethodOptions(**given)
    options.validate()  # a bad value is refused before any data loads
    return options


def with_method_options(command: F) -> F:
    """Replace ``command``'s ``options`` parameter by one option per :class:`MethodOptions`
    field; the command is called with ``options`` built from them."""
    signature = inspect.signature(command, eval_str=True)
    params = list(signature.parameters.values())
    at = list(signature.parameters).index("options")
    params[at : at + 1] = [_parameter(option) for option in OPTION_FIELDS]

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        values = {o.name: kwargs.pop(o.name) for o in OPTION_FIELDS}
        return command(*args, options=method_options(values), **kwargs)

    run.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    return typing.cast(F, run)
