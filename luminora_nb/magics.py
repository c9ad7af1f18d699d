"""``%%luminora``: chat with a persona from a notebook cell (``%load_ext luminora_nb``).

Magics:

``%%luminora PERSONA [--provider NAME] [--model M] [--session NAME] [--user ID] [--new]``
    Sends the cell's text to a session and streams the reply into the output as
    Markdown, followed by a muted line (persona, provider/model, tokens, latency).
    Sessions are kept by name (``--session``, default: the persona), so running the
    magic again continues the conversation; ``--new`` starts that session over.
``%luminora_personas``
    The persona library as a table (name, archetype, temperament, communication style
    and the six parameters); the returned :class:`PersonaTable` also has ``.rows`` and
    ``.to_dataframe()``.
``%luminora_config [--log PATH|none] [--provider NAME] [--model M] [--user ID]``
    Defaults of the magics; ``--log`` only before the first ``%%luminora`` cell (it
    decides how the facade is built). Without arguments it shows the configuration.

Design:

* **One facade per shell.** The magics registered in a shell own one
  :class:`~luminora_nb.sync.Luminora`, created lazily by the first cell that needs it,
  so ``%load_ext`` costs nothing and ``%luminora_config`` can still shape it. The facade
  runs the async client on its own loop thread, so the magic never touches the kernel's
  event loop; :meth:`LuminoraMagics.use` swaps in a facade you built yourself.
* **Streaming without flooding.** The reply is one display (``display_id``) updated as
  chunks arrive, at most every :data:`UPDATE_INTERVAL` seconds (a caret marks a reply
  still arriving); the last update shows the whole reply. A chunk that arrives within
  the interval shows with the next one. In a terminal IPython (no kernel, so no display
  updates) the chunks are printed as they come.
* **One line per mistake.** Bad arguments, an unknown persona or provider and an empty
  cell raise IPython's :class:`~IPython.core.error.UsageError` (shown as one line, and
  "Run all" stops there). A :class:`~luminora_nb.errors.LuminoraError` from the library
  (a missing API key, a provider failure) is re-raised with a one-line rendering
  (IPython's ``_render_traceback_`` hook), keeping the library's message, which says
  what to do (e.g. the variable to set).
* **Ctrl-C.** Interrupting a streaming cell cancels the stream (nothing of the
  unfinished turn is stored, so the session stays usable), leaves the partial reply on
  screen marked as interrupted, and re-raises ``KeyboardInterrupt`` so a running
  "Run all" stops.

Example:
    >>> args = parse_luminora_args("aurora --session study --user sam")
    >>> args.persona, args.session, args.user, args.provider
    ('aurora', 'study', 'sam', None)
"""

from __future__ import annotations

import argparse
import html
import os
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from .errors import LuminoraError
from .providers import available_providers
from .types.provider import ProviderConfig

if TYPE_CHECKING:
    import pandas as pd
    from IPython.core.interactiveshell import InteractiveShell

    from .sync import ChatStream, Luminora
    from .types.provider import ChatResponse

__all__ = [
    "UPDATE_INTERVAL",
    "LuminoraMagics",
    "PersonaTable",
    "load_ipython_extension",
    "luminora_magics",
    "parse_luminora_args",
    "unload_ipython_extension",
]

#: Shortest time between two updates of a streaming reply's display, in seconds.
UPDATE_INTERVAL = 0.05

_CARET = "▍"
_PARAMETERS = ("verbosity", "formality", "humor", "empathy", "creativity", "directness")
_MAGIC_NAMES = {"cell": ("luminora",), "line": ("luminora_personas", "luminora_config")}


@dataclass
class _Session:
    """A session the magics started: its id and what it was started with."""

    session_id: str
    persona: str
    provider: str
    model: str | None
    user: str | None


# -- argument parsing ----------------------------------------------------------------------


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a mistake as one :class:`UsageError` line instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:  # an unclosed quote
        raise UsageError(f"cannot read the arguments ({exc}): {line!r}") from None


# The arguments of each magic that take a value, as (name, help); a name without "--" is positional.
_CHAT_ARGUMENTS = (
    ("persona", "Name of the persona to talk to (see %luminora_personas)."),
    ("--provider", "Provider of a new session (default: %luminora_config, else offline)."),
    ("--model", "Model of a new session (default: the provider's)."),
    ("--session", "Session name; cells with the same name continue one conversation."),
    ("--user", "User id of a new session."),
)
_CONFIG_ARGUMENTS = (
    ("--log", "Session log of the facade: a .duckdb path, or 'none' for no log."),
    ("--provider", "Default provider of new sessions."),
    ("--model", "Default model of new sessions."),
    ("--user", "Default user id of new sessions."),
)


def _parser(
    prog: str, arguments: Sequence[tuple[str, str]], switches: Sequence[tuple[str, str]] = ()
) -> argparse.ArgumentParser:
    """The parser of one magic: ``arguments`` take a value, ``switches`` are on/off flags."""
    p = _ArgumentParser(prog=prog, add_help=False)
    for name, text in arguments:
        p.add_argument(name, help=text)
    for name, text in switches:
        p.add_argument(name, action="store_true", help=text)
    return p


def parse_luminora_args(line: str) -> argparse.Namespace:
    """Parse the arguments of a ``%%luminora`` line.

    Raises:
        UsageError: a missing persona, an unknown option or an empty value (one line).

    Example:
        >>> parse_luminora_args("vex --provider openai --model gpt-4o-mini --new").model
        'gpt-4o-mini'
    """
    parser = _parser("%%luminora", _CHAT_ARGUMENTS, [("--new", "Start the named session over.")])
    args = parser.parse_args(_split(line))
    for name in (argument.lstrip("-") for argument, _ in _CHAT_ARGUMENTS):
        value = getattr(args, name)
        if value is not None:
            value = value.strip()
            if not value:
                raise UsageError(f"%%luminora: {name} must not be empty")
            setattr(args, name, value)
    return args


def parse_config_args(line: str) -> argparse.Namespace:
    """Parse the arguments of a ``%luminora_config`` line.

    Example:
        >>> parse_config_args("--log none --provider offline").log
        'none'
    """
    return _parser("%luminora_config", _CONFIG_ARGUMENTS).parse_args(_split(line))


# -- output --------------------------------------------------------------------------------


_INTERRUPTED = "*(interrupted: this partial reply is not kept in the conversation)*"


def _interrupted(text: str) -> str:
    return f"{text}\n\n{_INTERRUPTED}" if text else _INTERRUPTED


def _bundle(markdown: str) -> dict[str, str]:
    return {"text/markdown": markdown, "text/plain": markdown}


def _footer_parts(persona: str, provider: str, response: ChatResponse | None) -> list[str]:
    parts = [persona]
    model = response.model if response is not None else None
    parts.append(f"{provider} · {model}" if model else provider)
    if response is not None:
        usage = response.usage or {}
        if usage:
            tokens_in, tokens_out = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
            parts.append(f"{usage.get('total_tokens', 0)} tokens ({tokens_in} in, {tokens_out} out)")
        latency = (response.metadata or {}).get("latency_ms")
        if isinstance(latency, int | float):
            parts.append(f"{latency / 1000:.2f} s" if latency >= 1000 else f"{latency:.0f} ms")
        if response.finish_reason not in (None, "stop"):
            parts.append(f"finish: {response.finish_reason}")
    return parts


def footer_bundle(parts: Sequence[str]) -> dict[str, str]:
    """The muted line under a reply, as HTML (JupyterLab theme variables) and plain text.

    Example:
        >>> footer_bundle(["aurora", "offline", "12 ms"])["text/plain"]
        'aurora · offline · 12 ms'
    """
    text = " · ".join(parts)
    style = (
        "color: var(--jp-ui-font-color2); font-family: var(--jp-ui-font-family); "
        "font-size: var(--jp-ui-font-size0, 0.85em); margin-top: 2px"
    )
    return {
        "text/plain": text,
        "text/html": f'<div class="lnb-magic-footer" style="{style}">{html.escape(text)}</div>',
    }


def _one_line_traceback(exc: BaseException) -> list[str]:
    return [f"\x1b[0;31m{type(exc).__name__}\x1b[0m: {exc}"]


def _report(exc: LuminoraError) -> LuminoraError:
    """Let IPython show ``exc`` as one line (its ``_render_traceback_`` hook), then re-raise it."""
    setattr(exc, "_render_traceback_", lambda: _one_line_traceback(exc))  # noqa: B010
    return exc


class PersonaTable:
    """The personas known to a facade, as a table (HTML for notebooks, text elsewhere).

    Attributes:
        rows: One dict per persona: ``name``, ``archetype``, ``temperament``,
            ``communication_style`` and the six parameters (``None`` for a persona
            given in the simple seed form, which has no structured definition).

    Example:
        >>> table = PersonaTable([{"name": "aurora", "archetype": "mentor", "temperament": "calm",
        ...                        "communication_style": "socratic", "verbosity": 0.65}])
        >>> print(repr(table).splitlines()[0].split())
        ['name', 'archetype', 'temperament', 'style', 'verb', 'form', 'humor', 'emp', 'creat', 'direct']
    """

    COLUMNS = ("name", "archetype", "temperament", "communication_style", *_PARAMETERS)
    _SHORT = {
        "communication_style": "style",
        "verbosity": "verb",
        "formality": "form",
        "humor": "humor",
        "empathy": "emp",
        "creativity": "creat",
        "directness": "direct",
    }

    def __init__(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.rows: list[dict[str, Any]] = [{c: row.get(c) for c in self.COLUMNS} for row in rows]

    @classmethod
    def from_facade(cls, lum: Luminora) -> PersonaTable:
        """Read every persona of ``lum`` (shipped, loaded and blended)."""
        rows: list[dict[str, Any]] = []
        for name in lum.list_personalities():
            personality = lum.get_personality(name)
            row: dict[str, Any] = {"name": name}
            definition = personality.definition if personality is not None else None
            if definition is not None:
                traits = definition.core_traits
                row.update(
                    archetype=traits.archetype,
                    temperament=traits.temperament,
                    communication_style=traits.communication_style,
                    **definition.advanced_parameters.as_dict(),
                )
            rows.append(row)
        return cls(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def to_dataframe(self) -> pd.DataFrame:
        """The table as a pandas DataFrame (one row per persona)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(self.COLUMNS))

    @staticmethod
    def _cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.2f}"
        return str(value)

    def __repr__(self) -> str:
        headers = [self._SHORT.get(c, c) for c in self.COLUMNS]
        body = [[self._cell(row[c]) for c in self.COLUMNS] for row in self.rows]
        widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in body]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        border = "1px solid var(--jp-border-color2, rgba(128, 128, 128, 0.35))"
        cell = f"padding: 2px 8px; border-bottom: {border}; text-align: left"
        number = f"{cell.replace('left', 'right')}; font-variant-numeric: tabular-nums"
        head = "".join(
            f'<th scope="col" style="{number if c in _PARAMETERS else cell}">'
            f"{html.escape(c.replace('_', ' '))}</th>"
            for c in self.COLUMNS
        )
        rows = "".join(
            "<tr>"
            + "".join(
                f'<td style="{number if c in _PARAMETERS else cell}">{html.escape(self._cell(row[c]))}</td>'
                for c in self.COLUMNS
            )
            + "</tr>"
            for row in self.rows
        )
        return (
            '<div class="lnb-personas" style="max-width: 100%; overflow-x: auto; '
            'font-family: var(--jp-ui-font-family); color: var(--jp-ui-font-color1)">'
            f'<table style="border-collapse: collapse; font-size: var(--jp-ui-font-size1, 0.9em)">'
            f'<caption style="text-align: left; color: var(--jp-ui-font-color2)">{len(self.rows)} personas'
            " (parameters from 0 to 1)</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
        )


# -- the magics ----------------------------------------------------------------------------


@magics_class
class LuminoraMagics(Magics):
    """The ``%%luminora`` magics of one IPython shell, with their facade and sessions.

    Args:
        shell: The shell the magics are registered in.

    Attributes:
        sessions: Session name -> session id of the sessions these magics started.

    Example:
        >>> magics = LuminoraMagics(None)
        >>> magics.configure(log="none", provider="offline")
        >>> magics.settings
        {'log': None, 'provider': 'offline', 'model': None, 'user': None}
    """

    def __init__(self, shell: InteractiveShell | None = None) -> None:
        super().__init__(shell)
        self._lum: Luminora | None = None
        self._owns_lum = False
        self._log: Any = _UNSET
        self._provider: str | None = None
        self._model: str | None = None
        self._user: str | None = None
        self._sessions: dict[str, _Session] = {}

    # -- configuration ------------------------------------------------------------------
    @property
    def settings(self) -> dict[str, Any]:
        """The magics' defaults (``log`` is ``"<default>"`` until configured)."""
        log = "<default>" if self._log is _UNSET else self._log
        return {"log": log, "provider": self._provider, "model": self._model, "user": self._user}

    @property
    def sessions(self) -> dict[str, str]:
        """Session name -> session id, for the sessions started by ``%%luminora``."""
        return {name: s.session_id for name, s in self._sessions.items()}

    def configure(
        self,
        *,
        log: str | os.PathLike[str] | None = None,
        provider: str | None = None,
        model: str | None = None,
        user: str | None = None,
    ) -> None:
        """Set the defaults (what ``%luminora_config`` does); ``log="none"`` turns the log off.

        Raises:
            UsageError: ``log`` once the facade exists, or an unknown provider.
        """
        if log is not None:
            if self._lum is not None:
                raise UsageError(
                    "the session log is chosen when the first %%luminora cell runs; "
                    "restart the kernel (or %unload_ext / %load_ext luminora_nb) to change it"
                )
            text = os.fspath(log)
            self._log = None if text.strip().lower() in ("none", "off", "") else text
        if provider is not None:
            self._provider = self._check_provider(provider)
        if model is not None:
            self._model = model or None
        if user is not None:
            self._user = user or None

    @staticmethod
    def _check_provider(name: str) -> str:
        key = name.strip().lower()
        known = available_providers()
        if key not in known:
            raise UsageError(f"unknown provider {name!r}; available: {', '.join(known)}")
        return key

    # -- the facade ---------------------------------------------------------------------
    @property
    def facade(self) -> Luminora:
        """The :class:`~luminora_nb.sync.Luminora` the magics use, created on first use."""
        if self._lum is not None and self._lum.closed:
            if not self._owns_lum:
                raise UsageError("the Luminora given to the magics with use() is closed; pass an open one")
            self._lum, self._sessions = None, {}
        if self._lum is None:
            from .sync import Luminora

            self._lum = Luminora() if self._log is _UNSET else Luminora(log=self._log)
            self._owns_lum = True
        return self._lum

    def use(self, lum: Luminora) -> None:
        """Make the magics talk through ``lum`` (a facade with your own provider or storage).

        Sessions started through the previous facade are forgotten (the magics close that
        facade if they had created it).
        """
        self.close()
        self._lum, self._owns_lum = lum, False

    def close(self) -> None:
        """Close the facade if the magics created it, and forget its sessions."""
        lum, owned = self._lum, self._owns_lum
        self._lum, self._owns_lum, self._sessions = None, False, {}
        if lum is not None and owned:
            lum.close()

    # -- %%luminora -----------------------------------------------------------------------
    @cell_magic
    def luminora(self, line: str, cell: str | None) -> None:
        """%%luminora PERSONA [--provider NAME] [--model M] [--session NAME] [--user ID] [--new]

        Send the cell to PERSONA and stream the reply as Markdown. Cells with the same
        session name (default: the persona) continue one conversation.
        """
        args = parse_luminora_args(line)
        text = (cell or "").strip()
        if not text:
            raise UsageError(f"the cell is empty: write the message for {args.persona} under %%luminora")
        provider = self._check_provider(args.provider) if args.provider is not None else None
        try:
            lum = self.facade
            known = lum.list_personalities()
            if args.persona not in known:
                raise UsageError(f"unknown persona {args.persona!r}; known personas: {', '.join(known)}")
            session = self._session_for(lum, args, provider)
            self._chat(lum, session, text)
        except LuminoraError as exc:
            raise _report(exc) from None

    def _session_for(self, lum: Luminora, args: argparse.Namespace, provider: str | None) -> _Session:
        name = args.session or args.persona
        current = self._sessions.get(name)
        if current is not None and not args.new:
            asked = {"persona": args.persona, "provider": provider, "model": args.model, "user": args.user}
            have = {
                "persona": current.persona,
                "provider": current.provider,
                "model": current.model,
                "user": current.user,
            }
            mismatch = [f"{k} {have[k]!r}" for k, v in asked.items() if v is not None and v != have[k]]
            if mismatch:
                raise UsageError(
                    f"session {name!r} was started with {', '.join(mismatch)}; pass --session OTHER_NAME "
                    f"for another conversation, or --new to start {name!r} over"
                )
            return current
        base = lum.client.default_provider
        default_provider = self._provider or base.name
        wanted_provider = provider or default_provider
        wanted_model = args.model or (self._model if wanted_provider == default_provider else None)
        config: ProviderConfig | None = None  # None: the facade's default provider as it is
        if wanted_provider != base.name:
            config = ProviderConfig(name=wanted_provider, model=wanted_model)
        elif wanted_model is not None and wanted_model != base.model:
            config = base.model_copy(update={"model": wanted_model})  # keeps its key, URL and extras
        user = args.user or self._user
        sid = lum.create_session(args.persona, config, user_id=user)
        session = _Session(sid, args.persona, wanted_provider, wanted_model, user)
        self._sessions[name] = session
        return session

    def _chat(self, lum: Luminora, session: _Session, text: str) -> None:
        from IPython.display import display as _display

        display: Callable[..., Any] = _display
        stream = lum.stream_message(session.session_id, text)
        if getattr(self.shell, "kernel", None) is not None:
            self._show_stream(stream, display)
        else:  # a terminal IPython: print the chunks as they come, no display updates
            self._print_stream(stream)
        persona = lum.get_personality(session.persona)
        label = persona.display_name if persona is not None else session.persona
        display(footer_bundle(_footer_parts(label, session.provider, stream.response)), raw=True)

    @staticmethod
    def _show_stream(stream: ChatStream, display: Callable[..., Any]) -> None:
        handle: Any = display(_bundle(_CARET), raw=True, display_id=True)
        shown_at, shown = 0.0, ""
        try:
            with stream:
                for _chunk in stream:
                    now = time.monotonic()
                    if now - shown_at >= UPDATE_INTERVAL and stream.text != shown:
                        shown, shown_at = stream.text, now
                        handle.update(_bundle(shown + _CARET), raw=True)
        except KeyboardInterrupt:
            handle.update(_bundle(_interrupted(stream.text)), raw=True)
            raise
        except LuminoraError:
            handle.update(_bundle(stream.text or "*(no reply)*"), raw=True)
            raise
        handle.update(_bundle(stream.text or "*(empty reply)*"), raw=True)

    @staticmethod
    def _print_stream(stream: ChatStream) -> None:
        try:
            with stream:
                for chunk in stream:
                    print(chunk.content, end="", flush=True)
        except KeyboardInterrupt:
            print(f"\n{_INTERRUPTED}", flush=True)
            raise
        print(flush=True)

    # -- %luminora_personas ----------------------------------------------------------------
    @line_magic
    def luminora_personas(self, line: str = "") -> PersonaTable:
        """%luminora_personas: the personas (name, traits, the six parameters) as a table."""
        if line.strip():
            raise UsageError("%luminora_personas takes no arguments")
        try:
            return PersonaTable.from_facade(self.facade)
        except LuminoraError as exc:
            raise _report(exc) from None

    # -- %luminora_config -----------------------------------------------------------------
    @line_magic
    def luminora_config(self, line: str = "") -> None:
        """%luminora_config [--log PATH|none] [--provider NAME] [--model M] [--user ID]

        Set the defaults of %%luminora; without arguments, print them.
        """
        args = parse_config_args(line)
        if all(getattr(args, k) is None for k in ("log", "provider", "model", "user")):
            facade = "not started" if self._lum is None else repr(self._lum)
            settings = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
            print(f"luminora magics: {settings}; facade: {facade}")
            return
        self.configure(log=args.log, provider=args.provider, model=args.model, user=args.user)


class _Unset:
    def __repr__(self) -> str:
        return "<default>"


_UNSET: Any = _Unset()


# -- extension entry points --------------------------------------------------------------------


def luminora_magics(shell: InteractiveShell | None = None) -> LuminoraMagics:
    """The :class:`LuminoraMagics` registered in ``shell`` (default: the running one).

    Registers them first if ``%load_ext luminora_nb`` has not run yet.

    Raises:
        UsageError: no IPython shell is running.
    """
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None:
            raise UsageError("the luminora magics need a running IPython shell or Jupyter kernel")
    found = shell.magics_manager.registry.get(LuminoraMagics.__name__)
    if isinstance(found, LuminoraMagics):
        return found
    load_ipython_extension(shell)
    registered: LuminoraMagics = shell.magics_manager.registry[LuminoraMagics.__name__]
    return registered


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """Register the magics in ``ipython`` (``%load_ext luminora_nb``); idempotent."""
    from ._kernel import enable_asyncio_run

    if not isinstance(ipython.magics_manager.registry.get(LuminoraMagics.__name__), LuminoraMagics):
        ipython.register_magics(LuminoraMagics(ipython))
    enable_asyncio_run()


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """Remove the magics from ``ipython`` and close the facade they created."""
    magics = ipython.magics_manager.registry.pop(LuminoraMagics.__name__, None)
    if isinstance(magics, LuminoraMagics):
        magics.close()
    table = ipython.magics_manager.magics
    for kind, names in _MAGIC_NAMES.items():
        for name in names:
            table[kind].pop(name, None)
