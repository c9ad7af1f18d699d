"""Command line: ``python -m luminora_nb demo | personas | chat NAME``.

``demo`` is the main job on the embedded defaults: the offline persona simulator and
in-memory storage, no API key, no network. It lists the shipped personas, blends two
of them at two weightings, and runs the same prompts through both blends side by side,
streaming the last reply.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import textwrap
from collections.abc import Sequence

from .client import LuminoraCoreClient
from .errors import LuminoraError
from .events import Event
from .types.provider import ProviderConfig

__all__ = ["main"]

DEMO_PROMPTS = (
    "Hello! My name is Sam.",
    "How do volcanoes work?",
    "I feel a bit nervous about my exam tomorrow.",
    "Thanks, that helps. Bye!",
)


def _wrap(text: str, width: int, indent: str = "    ") -> str:
    return textwrap.fill(text, width=width, initial_indent=indent, subsequent_indent=indent)


class _StreamWrapper:
    """Writes streamed chunks (words with their trailing space) wrapped at ``width``."""

    def __init__(self, width: int, indent: str = "    ") -> None:
        self.width, self.indent = width, indent
        self.column, self.pending = len(indent), ""
        sys.stdout.write(indent)

    def write(self, text: str) -> None:
        word = text.strip()
        if not word:
            self.pending += text
            return
        if self.column > len(self.indent) and self.column + len(self.pending) + len(word) > self.width:
            sys.stdout.write("\n" + self.indent)
            self.column, self.pending = len(self.indent), ""
        sys.stdout.write(self.pending + word)
        self.column += len(self.pending) + len(word)
        self.pending = text[len(text.rstrip()) :]
        sys.stdout.flush()


async def _personas(client: LuminoraCoreClient) -> None:
    header = f"{'name':<16} {'archetype':<12} {'temperament':<12} {'verb':>5} {'form':>5} {'humor':>5}"
    print(f"{header}  description")
    for name in await client.list_personalities():
        p = await client.get_personality(name)
        if p is None or p.definition is None:
            continue
        d = p.definition
        a = d.advanced_parameters
        print(
            f"{name:<16} {d.core_traits.archetype:<12} {d.core_traits.temperament:<12} "
            f"{a.verbosity:>5.2f} {a.formality:>5.2f} {a.humor:>5.2f}  {d.persona.description[:60]}"
        )


async def _demo(first: str, second: str, width: int) -> int:
    async with LuminoraCoreClient() as client:
        events: list[Event] = []
        client.events.subscribe(events.append)
        print("luminora_nb demo: offline persona simulator, in-memory storage, no API key\n")
        await _personas(client)
        blends = {
            f"{first}70_{second}30": [0.7, 0.3],
            f"{first}30_{second}70": [0.3, 0.7],
        }
        sessions = {}
        print(f"\nBlending {first!r} and {second!r}:")
        for blend_name, weights in blends.items():
            blended = await client.blend_personalities([first, second], weights, blend_name)
            assert blended.definition is not None
            params = ", ".join(
                f"{k} {v:.2f}" for k, v in blended.definition.advanced_parameters.as_dict().items()
            )
            print(f"  {blend_name}: {params}")
            sessions[blend_name] = await client.create_session(
                blend_name, ProviderConfig(name="offline"), user_id="demo_user"
            )
        for prompt in DEMO_PROMPTS[:-1]:
            print(f"\nUser: {prompt}")
            for blend_name, sid in sessions.items():
                reply = await client.send_message(sid, prompt)
                print(f"  [{blend_name}]")
                print(_wrap(reply.content, width))
        last = DEMO_PROMPTS[-1]
        print(f"\nUser: {last}   (streamed)")
        for blend_name, sid in sessions.items():
            print(f"  [{blend_name}]")
            wrapper = _StreamWrapper(width)
            async for chunk in client.stream_message(sid, last):
                wrapper.write(chunk.content)
            print()
        turns = sum(1 for e in events if e.type == "turn_completed")
        stored = [len((await client.get_conversation(sid)).messages) for sid in sessions.values()]  # type: ignore[union-attr]
        print(f"\n{turns} turns completed, {sum(stored)} messages stored in {len(sessions)} sessions.")
    return 0


async def _chat(name: str, provider: str) -> int:
    async with LuminoraCoreClient() as client:
        sid = await client.create_session(name, ProviderConfig(name=provider))
        print(f"Chatting with {name} via {provider}. Empty line or Ctrl-D to quit.")
        loop = asyncio.get_running_loop()
        while True:
            try:
                line = await loop.run_in_executor(None, sys.stdin.readline)
                line.encode("utf-8")  # undecodable bytes arrive as lone surrogates
            except (UnicodeDecodeError, UnicodeEncodeError):
                raise _UsageError("input is not valid UTF-8; type text, or pipe a UTF-8 file") from None
            if not line.strip():
                return 0
            async for chunk in client.stream_message(sid, line.strip()):
                sys.stdout.write(chunk.content)
                sys.stdout.flush()
            print()


class _UsageError(Exception):
    """A mistake of the person at the command line: shown as one line, exit status 2."""


def _width(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--width must be a whole number, got {text!r}") from None
    if value < 20:
        raise argparse.ArgumentTypeError(f"--width must be at least 20, got {value}")
    return value


def _check_persona(name: str) -> str:
    from .personality.library import builtin_names

    if name not in builtin_names():
        raise _UsageError(f"unknown persona {name!r}; run `luminora-nb personas` to list them")
    return name


def _check_provider(name: str) -> str:
    from .providers import available_providers

    known = available_providers()
    if name.strip().lower() not in known:
        raise _UsageError(f"unknown provider {name!r}; choose one of: {', '.join(sorted(known))}")
    return name


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m luminora_nb`` and the ``luminora-nb`` command.

    Mistakes (an unknown persona or provider, a missing API key, bad options, input
    that is not UTF-8) print one line on stderr and exit with status 2; Ctrl-C exits
    with 130; a closed output pipe stops the output with one line and status 1.
    """
    try:
        return _main(argv)
    except _UsageError as exc:
        print(f"luminora-nb: error: {exc}", file=sys.stderr)
        return 2
    except LuminoraError as exc:
        message = str(exc).splitlines()[0]
        # the library's hints speak Python; at the command line only the variable matters
        message = message.replace(" or pass ProviderConfig(", " (or pass ProviderConfig(").split(" (or pass")[
            0
        ]
        print(f"luminora-nb: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("luminora-nb: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`luminora-nb personas | head -2`): stop writing, quietly
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("luminora-nb: output closed before the end (broken pipe)", file=sys.stderr)
        return 1


def _main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="luminora-nb", description=__doc__.splitlines()[0] if __doc__ else None
    )
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="blend two shipped personas and chat with both, offline")
    demo.add_argument("--first", default="aurora", help="first persona (default: aurora)")
    demo.add_argument("--second", default=None, help="second persona (default: a contrasting one)")
    demo.add_argument("--width", type=_width, default=100, help="wrap replies at this width (>= 20)")
    sub.add_parser("personas", help="list the shipped personas")
    chat = sub.add_parser("chat", help="chat with a persona on stdin")
    chat.add_argument("name")
    chat.add_argument("--provider", default="offline")
    args = parser.parse_args(argv)
    from .personality.library import builtin_names

    if args.command in (None, "demo"):
        first = _check_persona(getattr(args, "first", "aurora"))
        if getattr(args, "second", None):
            _check_persona(args.second)
        names = builtin_names()
        second = getattr(args, "second", None) or next(
            (n for n in ("captain_quip", "bastion") if n in names and n != first),
            next(n for n in names if n != first),
        )
        return asyncio.run(_demo(first, second, getattr(args, "width", 100)))
    if args.command == "personas":

        async def run() -> int:
            async with LuminoraCoreClient() as client:
                await _personas(client)
            return 0

        return asyncio.run(run())
    return asyncio.run(_chat(_check_persona(args.name), _check_provider(args.provider)))


if __name__ == "__main__":
    raise SystemExit(main())
