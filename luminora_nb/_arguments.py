"""Argument lists stated once, for the layers that take the same call.

``save_episode`` is called with the same positional arguments at three layers: a
storage (which third-party stores implement, and which callers reach positionally), the
async v1.1 client (which validates and then stores) and the sync facade (which runs the
client's call). Rather than restate the list three times, it is written once, as the
signature of :func:`save_episode` here, and :func:`arguments_of` gives each layer's method
that signature: a call is bound through the spec, so a wrong call is a ``TypeError``
naming the method's own parameters, and the method body receives one record.

``inspect.signature`` and ``help()`` show the full parameter list on every layer, and
type checkers see it too (``ParamSpec``), so nothing is lost for a caller.

Example:
    >>> class Diary:
    ...     @arguments_of(save_episode)
    ...     def save_episode(self, episode: EpisodeArguments) -> str:
    ...         return f"{episode.user_id}: {episode.fields['title']}"
    >>> Diary().save_episode("u1", "milestone", "Engagement", "User got engaged.", 8)
    'u1: Engagement'
    >>> import inspect
    >>> str(inspect.signature(Diary.save_episode)).split(", importance")[0]
    '(self, user_id: str, episode_type: str, title: str, summary: str'
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Concatenate, NamedTuple, ParamSpec, TypeVar

__all__ = ["EpisodeArguments", "arguments_of", "save_episode"]

P = ParamSpec("P")
A = TypeVar("A")
S = TypeVar("S")
R = TypeVar("R")


def arguments_of(spec: Callable[P, A]) -> Callable[[Callable[[S, A], R]], Callable[Concatenate[S, P], R]]:
    """Give a method the parameters of ``spec``; the method receives what ``spec`` returns.

    Works for plain and ``async`` methods alike (an async method stays a coroutine
    function). The method's own name, docstring and return annotation are kept.
    """

    def decorate(method: Callable[[S, A], R]) -> Callable[Concatenate[S, P], R]:
        if inspect.iscoroutinefunction(method):

            async def call_async(self: S, /, *args: P.args, **kwargs: P.kwargs) -> Any:
                return await method(self, spec(*args, **kwargs))

            call: Any = call_async
        else:

            def call_sync(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
                return method(self, spec(*args, **kwargs))

            call = call_sync
        functools.update_wrapper(call, method)
        del call.__wrapped__  # the signature below is the caller's, not the method's
        own = inspect.signature(method)
        self_parameter = next(iter(own.parameters.values()))
        parameters = [self_parameter, *inspect.signature(spec, eval_str=True).parameters.values()]
        call.__signature__ = own.replace(parameters=parameters)
        return call  # type: ignore[no-any-return]

    return decorate


class EpisodeArguments(NamedTuple):
    """A ``save_episode`` call, bound: the user, the episode's named fields and the extras."""

    user_id: str
    fields: dict[str, Any]
    extra: dict[str, Any]

    def positional(self) -> tuple[Any, ...]:
        """The call's positional arguments again, to pass it on to another layer's ``save_episode``."""
        return (self.user_id, *self.fields.values())


def save_episode(
    user_id: str,
    episode_type: str,
    title: str,
    summary: str,
    importance: float,
    sentiment: str = "neutral",
    **extra: Any,
) -> EpisodeArguments:
    """The signature of every ``save_episode``: named fields in this order, extras by keyword.

    ``extra`` holds keywords stored with the episode (``episode_id``, ``session_id``,
    ``personality_name``, ``timestamp``, ...).
    """
    fields = {
        "episode_type": episode_type,
        "title": title,
        "summary": summary,
        "importance": importance,
        "sentiment": sentiment,
    }
    return EpisodeArguments(user_id, fields, extra)
