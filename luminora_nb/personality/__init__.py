"""Persona definitions: validation, the shipped library, compilation and blending."""

from .compile import compile_prompt, describe_parameter, effective_parameters
from .library import builtin_names, get_builtin, load_builtins
from .validate import parse_personality, validate_definition

__all__ = [
    "builtin_names",
    "compile_prompt",
    "describe_parameter",
    "effective_parameters",
    "get_builtin",
    "load_builtins",
    "parse_personality",
    "validate_definition",
]
