"""BlendStudio: blend personas with sliders, see the result at once, try it, save it.

One row per persona (name, archetype, a 0-100 weight slider with its normalised share),
a blend-type select, six trait bars of the blend with a ghost marker per source persona,
the compiled system prompt with the words changed since the last preview marked, a
try-it box that streams the blend's reply (and, side by side, each source's), and Save /
Copy as code.

Design:

* **The preview is computed in the kernel, synchronously.** A weight or blend-type
  change runs the pure :func:`~luminora_nb.personality.blend.blend_personalities` on
  source personas fetched once at construction (about 1 ms for two), never a round trip
  through the facade's loop thread, so a slider release shows its result within one
  message. The browser updates the share next to a slider on every ``input`` event by
  itself and sends the weights on ``change`` (release, or a key press) or after 150 ms
  without movement, so dragging never floods the kernel.
* **Small JSON traits, streamed text as messages.** Synced state: ``personas``,
  ``weights``, ``blend_type``, ``blend_name``, ``preview`` (params, sources' params,
  shares, prompt, prompt diff), ``code_text``, ``saved_name``, ``tries`` (the columns of
  the last try; a column's text is written once, when it finishes), ``error``, ``busy``.
  Replies stream as ``{"type": "delta", "id": column, "run": run, "text": ...}`` custom
  messages coalesced by :class:`~luminora_nb.widgets._base.DeltaBatcher`.
* **Browser -> kernel.** Weights and blend type arrive as trait updates (as a slider
  or select would send them); actions as custom messages ``{"type": "try" | "compare",
  "prompt": ...}``, ``{"type": "stop"}``, ``{"type": "save", "name": ...}``. Each is a
  public method too (:meth:`BlendStudio.try_it`, :meth:`BlendStudio.compare_with_sources`,
  :meth:`BlendStudio.stop`, :meth:`BlendStudio.save`), so tests and users drive the
  widget exactly as the browser does.
* **Prompt diff** (:func:`prompt_diff`): lines first, then words inside changed lines
  (the compare engine's :func:`~luminora_nb.compare.diff.text_diff`), so a slider move
  costs well under a millisecond even on long prompts.
* **Try-it runs on the facade's loop**, one fresh session per column with the studio's
  provider (offline unless one is given). The client only opens sessions on registered
  personalities, so the unsaved preview is registered as ``<blend name>__draft`` (with
  :meth:`load_personality`, so no ``BlendCreated`` event: only Save publishes one).
* **Errors in place.** Unknown personas, all-zero weights, an empty or clashing name,
  a failed reply: a short message in ``error``, the exception in ``last_error``,
  nothing raised; the preview keeps its last good state.

Example:
    >>> from luminora_nb import Luminora
    >>> with Luminora(log=None) as lum:
    ...     studio = BlendStudio(lum, ["aurora", "vex"], weights={"aurora": 70, "vex": 30})
    ...     studio.normalised_weights
    {'aurora': 0.7, 'vex': 0.3}
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import traitlets

from ..compare.diff import text_diff
from ..errors import LuminoraError, PersonalityError, SessionError
from ..personality.blend import blend_personalities
from ..personality.validate import definition_for
from ..types.persona import PARAMETER_NAMES
from ..types.personality import PersonalityData, normalise_weights
from ..types.provider import ProviderConfig
from ._base import DeltaBatcher, LuminoraWidget, asset_text, friendly_error, widget_css

if TYPE_CHECKING:
    from ..client import LuminoraCoreClient
    from ..sync import Luminora

__all__ = [
    "ALL_ZERO_MESSAGE",
    "BLEND_TYPES",
    "BlendStudio",
    "Reply",
    "blend_code",
    "prompt_diff",
    "shares_percent",
]

#: The blend types the studio offers (``"weighted"`` is accepted as ``"weighted_average"``).
BLEND_TYPES: tuple[str, ...] = ("weighted_average", "dominant", "hybrid")
#: Shown in place when every slider is at zero; the preview keeps its last good state.
ALL_ZERO_MESSAGE = "all weights are zero; raise at least one slider"
#: Suffix of the name under which an unsaved preview is registered for a try.
DRAFT_SUFFIX = "__draft"

_MAX_NAME = 100
_DEFAULT_WEIGHT = 50
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# --------------------------------------------------------------------------- pure helpers


def shares_percent(weights: Sequence[float]) -> list[int]:
    """Whole-percent shares of ``weights`` that always sum to 100 (largest remainder).

    All-zero (or empty) weights give all-zero shares.

    Example:
        >>> shares_percent([1, 1, 1])
        [34, 33, 33]
        >>> shares_percent([70, 30]), shares_percent([0, 0])
        ([70, 30], [0, 0])
    """
    total = math.fsum(weights)
    if total <= 0:
        return [0 for _ in weights]
    exact = [w * 100.0 / total for w in weights]
    shares = [math.floor(x) for x in exact]
    # Ties go to the earlier row, as in the browser's copy of this function.
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in order[: 100 - sum(shares)]:
        shares[i] += 1
    return shares


def prompt_diff(old: str, new: str) -> list[list[str]]:
    """Word diff turning ``old`` into ``new`` as ``[[op, text], ...]``, op in equal/insert/delete.

    Lines are matched first and words only inside changed lines, which keeps it fast on
    long prompts (:func:`~luminora_nb.compare.diff.text_diff`, shared with the compare
    engine). Joining the ``equal`` and ``delete`` texts gives ``old``; joining the
    ``equal`` and ``insert`` texts gives ``new``. A word carries its trailing whitespace.

    Example:
        >>> prompt_diff("Tone: calm, clear.\\nBe kind.", "Tone: playful, clear.\\nBe kind.")
        [['equal', 'Tone: '], ['delete', 'calm, '], ['insert', 'playful, '], ['equal', 'clear.\\nBe kind.']]
        >>> prompt_diff("same", "same")
        [['equal', 'same']]
    """
    return [[op, text] for op, text in text_diff(old, new, spaces="with_words")]


def _number_literal(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def blend_code(
    names: Sequence[str],
    weights: Sequence[float],
    blend_name: str,
    blend_type: str = "weighted_average",
    *,
    asynchronous: bool = False,
) -> str:
    """The ``blend_personalities`` call that makes this blend, as Python source.

    Example:
        >>> blend_code(["aurora", "vex"], [70, 30], "sunny")
        'lum.blend_personalities(["aurora", "vex"], [70, 30], "sunny", blend_type="weighted_average")'
        >>> blend_code(["aurora"], [50], "solo", "dominant", asynchronous=True)
        'await client.blend_personalities(["aurora"], [50], "solo", blend_type="dominant")'
    """
    # json.dumps of a string is a valid Python string literal (same escapes).
    args = (
        f"[{', '.join(json.dumps(n) for n in names)}], "
        f"[{', '.join(_number_literal(w) for w in weights)}], "
        f"{json.dumps(blend_name)}, blend_type={json.dumps(blend_type)}"
    )
    return f"await client.blend_personalities({args})" if asynchronous else f"lum.blend_personalities({args})"


def _check_name(name: object, sources: Sequence[str]) -> str | None:
    """What is wrong with ``name`` as a blend name, or ``None``."""
    if not isinstance(name, str) or not name.strip():
        return "type a name for the blend first (e.g. 'sunny_mentor')"
    name = name.strip()
    if len(name) > _MAX_NAME:
        return f"blend name is {len(name)} characters long; use at most {_MAX_NAME}"
    if _CONTROL.search(name):
        return "blend name may not contain line breaks or control characters"
    if name in sources:
        return f"{name!r} is one of the blend's sources; choose another name"
    return None


# --------------------------------------------------------------------------- try-it runs


@dataclass(frozen=True)
class Reply:
    """One column of the last try: who answered, what, and how it ended.

    Attributes:
        label: The blend's name or a source persona's name.
        kind: ``"blend"`` or ``"source"``.
        text: The reply (the partial reply if it was stopped).
        finish_reason: ``"stop"``, ``"length"``, ``"stopped"``, ... or ``None`` on error.
        session_id: The fresh session the reply ran in.
        error: A short message if the reply failed.
    """

    label: str
    kind: Literal["blend", "source"]
    text: str
    finish_reason: str | None
    session_id: str | None = None
    error: str | None = None


@dataclass(eq=False)
class _Column:
    id: str
    label: str
    kind: Literal["blend", "source"]
    personality: str  # the registered name the session runs
    session_id: str | None = None
    done: bool = False


@dataclass(eq=False)
class _Run:
    id: str
    prompt: str
    columns: list[_Column]
    stop_wanted: bool = False
    replies: dict[str, Reply] = field(default_factory=dict)


# --------------------------------------------------------------------------- the widget


class BlendStudio(LuminoraWidget):
    """Blend personas with sliders and see, try, save and copy the result.

    Args:
        lum: The facade whose client runs tries and saves.
        personas: Names of loaded or shipped personas, one slider each.
        weights: Starting weights 0-100, as ``{name: weight}`` or one per persona
            (default: 50 each).
        blend_type: ``"weighted_average"``, ``"dominant"`` or ``"hybrid"``.
        name: The blend's name in the preview, Save and the code (default
            ``"<persona>_<persona>_blend"``).
        provider: Provider of the try-it sessions (a :class:`ProviderConfig`, a name or
            a dict); default offline.

    Attributes:
        replies: The last try's replies by label (the blend's name, each source's name).

    Example:
        >>> from luminora_nb import Luminora
        >>> with Luminora(log=None) as lum:
        ...     studio = BlendStudio(lum, ["aurora", "captain_quip"])
        ...     low = studio.preview["params"]["humor"]
        ...     studio.weights = {"captain_quip": 90}
        ...     studio.preview["params"]["humor"] > low, studio.preview["shares"]
        (True, {'aurora': 36, 'captain_quip': 64})
    """

    _esm = asset_text("blend_studio.js")  # not widget_module(): its own h() would clash with dom.js
    _css = widget_css("blend_studio")

    personas = traitlets.List(traitlets.Dict()).tag(sync=True)
    weights = traitlets.Dict().tag(sync=True)
    blend_type = traitlets.Unicode("weighted_average").tag(sync=True)
    blend_name = traitlets.Unicode("").tag(sync=True)
    preview = traitlets.Dict().tag(sync=True)
    code_text = traitlets.Unicode("").tag(sync=True)
    saved_name = traitlets.Unicode("").tag(sync=True)
    tries = traitlets.Dict().tag(sync=True)

    def __init__(
        self,
        lum: Luminora,
        personas: Sequence[str] | str = (),
        *,
        weights: Mapping[str, float] | Sequence[float] | None = None,
        blend_type: str = "weighted_average",
        name: str | None = None,
        provider: ProviderConfig | Mapping[str, Any] | str | None = None,
    ) -> None:
        from ..sync import Luminora

        self._ready = False
        self._sources: list[PersonalityData] = []
        self._blend: PersonalityData | None = None
        self._normalised: dict[str, float] = {}
        self._good: tuple[list[str], list[float], str, str] | None = None
        self._preview_error: str | None = None
        self._run: _Run | None = None
        self.replies: dict[str, Reply] = {}
        if not isinstance(lum, Luminora):
            super().__init__(lum)  # raises the base class's explanation
        problems: list[LuminoraError] = []
        self._sources = self._resolve(lum, personas, problems)
        names = [p.name for p in self._sources]
        state: dict[str, Any] = {
            "personas": [self._persona_row(p) for p in self._sources],
            "weights": self._initial_weights(names, weights, problems),
            "blend_type": self._initial_blend_type(blend_type, problems),
            "blend_name": self._initial_name(names, name, problems),
        }
        try:
            self._provider = ProviderConfig.coerce(provider if provider is not None else "offline")
        except Exception as exc:
            problems.append(LuminoraError(f"invalid provider for the try-it box: {friendly_error(exc)}"))
            self._provider = ProviderConfig(name="offline")
        if names:
            try:
                self._compute(names, state["weights"], state["blend_type"], state["blend_name"], state)
            except PersonalityError as exc:
                problems.append(exc)
                if str(exc) == ALL_ZERO_MESSAGE:
                    self._preview_error = ALL_ZERO_MESSAGE
        if problems:  # shown in place from the first message on; nothing raised
            state["error"] = "; ".join(friendly_error(p) for p in problems)
        super().__init__(lum, **state)
        if problems:
            self.last_error = problems[0]
            if self._preview_error is not None:
                self._preview_error = self.error
        self.on_msg(self._on_custom)
        self._ready = True

    # -- construction --------------------------------------------------------------
    @staticmethod
    def _resolve(
        lum: Luminora, personas: Sequence[str] | str, problems: list[LuminoraError]
    ) -> list[PersonalityData]:
        wanted = [personas] if isinstance(personas, str) else list(personas or [])
        found: list[PersonalityData] = []
        unknown: list[str] = []
        for item in wanted:
            if not isinstance(item, str):
                unknown.append(repr(item))
                continue
            if any(p.name == item for p in found):
                continue  # listed twice: one slider is enough
            personality = lum.get_personality(item)
            if personality is None:
                unknown.append(repr(item))
            else:
                found.append(personality)
        if unknown:
            known = ", ".join(lum.list_personalities())
            some = "persona " + unknown[0] if len(unknown) == 1 else "personas " + ", ".join(unknown)
            problems.append(
                PersonalityError(
                    f"unknown {some}, left out of the studio; load it with lum.load_personality() "
                    f"first. Known: {known}"
                )
            )
        elif not found:
            problems.append(
                PersonalityError(
                    "BlendStudio needs at least one persona, e.g. BlendStudio(lum, ['aurora', 'vex'])"
                )
            )
        return found

    @staticmethod
    def _persona_row(p: PersonalityData) -> dict[str, Any]:
        definition = definition_for(p)
        return {
            "name": p.name,
            "archetype": definition.core_traits.archetype,
            "temperament": definition.core_traits.temperament,
            "params": definition.advanced_parameters.as_dict(),
        }

    @staticmethod
    def _initial_weights(
        names: list[str],
        weights: Mapping[str, float] | Sequence[float] | None,
        problems: list[LuminoraError],
    ) -> dict[str, float]:
        out: dict[str, float] = dict.fromkeys(names, _DEFAULT_WEIGHT)
        if weights is None:
            return out
        if isinstance(weights, Mapping):
            given = dict(weights)
        elif isinstance(weights, Sequence) and not isinstance(weights, str) and len(weights) == len(names):
            given = dict(zip(names, weights, strict=True))
        else:
            problems.append(
                PersonalityError(f"weights: give {{name: weight}} or one weight per persona ({len(names)})")
            )
            return out
        try:
            return _checked_weights(given, out)
        except traitlets.TraitError as exc:
            problems.append(PersonalityError(str(exc)))
            return out

    @staticmethod
    def _initial_blend_type(blend_type: str, problems: list[LuminoraError]) -> str:
        value = "weighted_average" if blend_type == "weighted" else blend_type
        if value not in BLEND_TYPES:
            problems.append(
                PersonalityError(f"unknown blend_type {blend_type!r}; use one of: {', '.join(BLEND_TYPES)}")
            )
            return "weighted_average"
        return value

    @staticmethod
    def _initial_name(names: list[str], name: str | None, problems: list[LuminoraError]) -> str:
        default = ("_".join(names) + "_blend")[:_MAX_NAME] if names else "blend"
        if name is None:
            return default
        problem = _check_name(name, names)
        if problem is not None:
            problems.append(PersonalityError(problem))
            return default
        return name.strip()

    # -- the preview (kernel thread, synchronous) ------------------------------------
    @traitlets.validate("weights")
    def _validate_weights(self, proposal: dict[str, Any]) -> dict[str, float]:
        if not self._ready:
            return dict(proposal["value"])
        return _checked_weights(proposal["value"], self.weights)

    @traitlets.validate("blend_type")
    def _validate_blend_type(self, proposal: dict[str, Any]) -> str:
        value = "weighted_average" if proposal["value"] == "weighted" else proposal["value"]
        if value not in BLEND_TYPES:
            raise traitlets.TraitError(f"unknown blend_type {value!r}; use one of: {', '.join(BLEND_TYPES)}")
        return str(value)

    @traitlets.validate("blend_name")
    def _validate_blend_name(self, proposal: dict[str, Any]) -> str:
        if not self._ready:
            return str(proposal["value"])
        problem = _check_name(proposal["value"], [p.name for p in self._sources])
        if problem is not None:
            raise traitlets.TraitError(problem)
        return str(proposal["value"]).strip()

    @traitlets.observe("weights", "blend_type", "blend_name")
    def _on_recipe(self, change: dict[str, Any]) -> None:
        if self._ready:
            self.refresh()

    def _compute(
        self,
        names: list[str],
        weights: Mapping[str, float],
        blend_type: str,
        blend_name: str,
        out: dict[str, Any],
    ) -> None:
        """Blend and fill ``out`` with the new ``preview`` and ``code_text``; raises on bad weights."""
        raw = [float(weights.get(n, 0)) for n in names]
        if math.fsum(raw) <= 0:
            raise PersonalityError(ALL_ZERO_MESSAGE)
        blended = blend_personalities(self._sources, raw, name=blend_name, blend_type=blend_type)
        previous = (self.preview.get("prompt") if self._ready else None) or blended.system_prompt
        definition = blended.definition
        assert definition is not None  # a blend always has one
        self._blend = blended
        self._normalised = dict(zip(names, normalise_weights(names, raw), strict=True))
        self._good = (names, [weights.get(n, 0) for n in names], blend_name, blend_type)
        out["preview"] = {
            "params": definition.advanced_parameters.as_dict(),
            "sources": {p["name"]: p["params"] for p in out.get("personas", self.personas)},
            "shares": dict(zip(names, shares_percent(raw), strict=True)),
            "prompt": blended.system_prompt,
            "prompt_diff": prompt_diff(previous, blended.system_prompt),
            "blend_type": blend_type,
            "name": blend_name,
        }
        out["code_text"] = blend_code(*self._good)

    def refresh(self) -> bool:
        """Recompute the preview from the current weights, blend type and name.

        Called by itself on every change; returns whether the preview was updated (all
        weights at zero leave it as it was and show :data:`ALL_ZERO_MESSAGE` in place).
        """
        names = [p.name for p in self._sources]
        if not names:
            return False
        state: dict[str, Any] = {}
        try:
            self._compute(names, self.weights, self.blend_type, self.blend_name, state)
        except PersonalityError as exc:
            self._fail(exc)
            self._preview_error = self.error
            return False
        with self.hold_sync():
            self.preview = state["preview"]
            self.code_text = state["code_text"]
            if self._preview_error is not None and self.error == self._preview_error:
                self.error = ""
            self._preview_error = None
        return True

    # -- character cards -----------------------------------------------------------
    def add_card(
        self, source: Any, *, name: str | None = None, weight: float = _DEFAULT_WEIGHT
    ) -> PersonalityData | None:
        """Import a Character Card, register it with the facade and give it a slider.

        ``source`` is what :meth:`Luminora.load_card` takes (a path, bytes, a dict). A
        card that cannot be read shows its error in place and returns ``None``; the
        studio keeps its personas and preview.

        Example:
            >>> from luminora_nb import Luminora
            >>> with Luminora(log=None) as lum:
            ...     studio = BlendStudio(lum, ["aurora"])
            ...     card = studio.add_card({"name": "Mira", "description": "A witty bard."}, weight=30)
            ...     studio.normalised_weights
            {'aurora': 0.625, 'mira': 0.375}
        """
        try:
            personality = self.lum.load_card(source, name=name)
            weight = _checked_weights({personality.name: weight}, {personality.name: 0})[personality.name]
        except (LuminoraError, traitlets.TraitError) as exc:
            self._fail(exc)
            return None
        if all(p.name != personality.name for p in self._sources):
            self._sources.append(personality)
            self._ready = False  # one preview for the new row and its weight, not two
            try:
                with self.hold_sync():
                    self.personas = [*self.personas, self._persona_row(personality)]
                    self.weights = {**self.weights, personality.name: weight}
            finally:
                self._ready = True
            self.refresh()
        return personality

    def card_upload(self) -> Any:
        """A FileUpload (``.json``, ``.png``, ``.charx``) whose files are added with :meth:`add_card`.

        Display it next to the studio; every card dropped on it (or picked with its
        button) gets a slider. Needs ipywidgets.

        Example:
            >>> from luminora_nb import Luminora
            >>> with Luminora(log=None) as lum:
            ...     upload = BlendStudio(lum, ["aurora"]).card_upload()
            ...     upload.accept
            '.json,.png,.charx'
        """
        from ._card_upload import card_upload

        return card_upload(self)

    # -- data out --------------------------------------------------------------------
    @property
    def normalised_weights(self) -> dict[str, float]:
        """The current preview's weights scaled to sum to 1 (the last valid weights)."""
        return dict(self._normalised)

    @property
    def blend(self) -> PersonalityData | None:
        """The blended personality of the current preview (not registered until saved)."""
        return self._blend

    def code(self, *, asynchronous: bool = False) -> str:
        """The ``blend_personalities`` call that makes the current preview.

        ``asynchronous=True`` gives the async client's form
        (``await client.blend_personalities(...)``).
        """
        if self._good is None:
            return ""
        return blend_code(*self._good, asynchronous=asynchronous)

    # -- save ------------------------------------------------------------------------
    def save(self, name: str | None = None) -> None:
        """Register the current preview under ``name`` (default: the blend's name).

        Runs ``client.blend_personalities`` on the facade's loop, so the blend appears in
        ``lum.list_personalities()`` and (through its ``BlendCreated`` event) in the
        session log; ``saved_name`` is set when done. Saving a name again replaces that
        blend. A bad name, a source's name or the name of an existing personality that is
        not a blend gives a message in place.
        """
        sources = [p.name for p in self._sources]
        wanted = self.blend_name if name is None else name
        problem = _check_name(wanted, sources)
        if problem is None and self._good is None:
            problem = "nothing to save yet: the studio has no valid blend"
        if problem is None and math.fsum(self.weights.values()) <= 0:
            problem = ALL_ZERO_MESSAGE
        if problem is None:
            existing = self.lum.get_personality(wanted.strip())
            if existing is not None and "blend" not in existing.metadata:
                problem = (
                    f"{wanted.strip()!r} is an existing personality, not a blend; saving would replace "
                    "it, so choose another name"
                )
        if problem is not None:
            self._fail(PersonalityError(problem))
            return
        self.blend_name = wanted.strip()
        assert self._good is not None
        names, weights, blend_name, blend_type = self._good

        def saved(result: PersonalityData) -> None:
            self.saved_name = result.name

        self._background(
            # the studio refused above to save over anything but a blend: re-saving replaces it
            self.lum.client.blend_personalities(
                names, weights, blend_name, blend_type=blend_type, replace=True
            ),
            on_done=saved,
            busy=False,
        )

    # -- try it ----------------------------------------------------------------------
    def try_it(self, prompt: str) -> None:
        """Send ``prompt`` to the current preview in a fresh session; the reply streams in.

        The result lands in :attr:`replies` (``studio.wait()`` waits for it).
        """
        self._start(prompt, with_sources=False)

    def compare_with_sources(self, prompt: str) -> None:
        """Send ``prompt`` to the blend and to each source persona, side by side."""
        self._start(prompt, with_sources=True)

    def stop(self) -> None:
        """Stop the running try; each reply keeps what it has (``finish_reason="stopped"``)."""
        run = self._run
        if run is None or run.stop_wanted:
            return
        run.stop_wanted = True
        for column in run.columns:
            if column.session_id is not None and not column.done:
                self.lum.call_soon(self.lum.client.stop_stream, column.session_id)

    def close(self) -> None:
        """Stop a running try, then close the widget (its front-end views go away)."""
        self.stop()
        super().close()

    def _start(self, prompt: object, *, with_sources: bool) -> None:
        if not isinstance(prompt, str) or not prompt.strip():
            self._fail(SessionError("type a prompt to try first"))
            return
        blend = self._blend
        if blend is None:
            self._fail(PersonalityError("nothing to try yet: the studio has no valid blend"))
            return
        self.stop()  # a try still streaming is superseded
        run_id = uuid.uuid4().hex[:12]
        draft = blend.name + DRAFT_SUFFIX
        columns = [_Column(f"{run_id}-0", blend.name, "blend", draft)]
        if with_sources:
            columns += [
                _Column(f"{run_id}-{i}", p.name, "source", p.name)
                for i, p in enumerate(self._sources, start=1)
            ]
        run = _Run(run_id, prompt, columns)
        self._run = run
        self.replies = {}
        self.tries = self._tries_state(run)
        self._background(self._run_all(run, blend, draft))

    @staticmethod
    def _tries_state(run: _Run) -> dict[str, Any]:
        columns = []
        for column in run.columns:
            reply = run.replies.get(column.label)
            columns.append(
                {
                    "id": column.id,
                    "label": column.label,
                    "kind": column.kind,
                    "done": reply is not None,
                    "text": reply.text if reply else "",
                    "finish_reason": reply.finish_reason if reply else None,
                    "error": reply.error if reply else None,
                }
            )
        return {"run": run.id, "prompt": run.prompt, "columns": columns}

    async def _run_all(self, run: _Run, blend: PersonalityData, draft: str) -> None:
        client = self.lum.client
        try:
            existing = await client.get_personality(draft)
            if existing is not None and "blend" not in existing.metadata:
                raise PersonalityError(
                    f"{draft!r} is an existing personality, not a blend draft; rename the blend to try it"
                )
            await client.load_personality(
                draft, blend.model_copy(update={"name_override": blend.name}), replace=True
            )
        except Exception as exc:
            for column in run.columns:
                self._column_done(run, column, "", None, exc)
            return
        # Columns run side by side; each one's failure stays in its column.
        await asyncio.gather(*(self._run_column(client, run, column) for column in run.columns))

    async def _run_column(self, client: LuminoraCoreClient, run: _Run, column: _Column) -> None:
        batcher = DeltaBatcher(self.send, kind="delta", message_id=column.id, extra={"run": run.id})
        parts: list[str] = []
        finish: str | None = None
        failure: Exception | None = None
        try:
            if run.stop_wanted:
                finish = "stopped"
            else:
                sid = await client.create_session(
                    column.personality,
                    self._provider,
                    user_id=self.lum.user_id,
                    metadata={"blend_studio_run": run.id, "blend_studio_label": column.label},
                )
                column.session_id = sid
                stop_sent = False
                async with contextlib.aclosing(client.stream_message(sid, run.prompt)) as stream:
                    async for chunk in stream:
                        if run.stop_wanted and not stop_sent:
                            # stop() came before the stream had begun: stop it now
                            stop_sent = client.stop_stream(sid)
                        parts.append(chunk.content)
                        batcher.add(chunk.content)
                        if chunk.finish_reason is not None:
                            finish = chunk.finish_reason
        except Exception as exc:
            failure = exc
        batcher.finish(finish_reason=finish, error=friendly_error(failure) if failure else None)
        self._column_done(run, column, "".join(parts), finish, failure)

    def _column_done(
        self, run: _Run, column: _Column, text: str, finish: str | None, failure: Exception | None
    ) -> None:
        """Record a finished column (loop thread); only the current run reaches the traits."""
        column.done = True
        error = friendly_error(failure) if failure is not None else None
        run.replies[column.label] = Reply(column.label, column.kind, text, finish, column.session_id, error)
        if run is not self._run:
            return
        with self.hold_sync():
            self.replies = {c.label: run.replies[c.label] for c in run.columns if c.label in run.replies}
            self.tries = self._tries_state(run)
            if failure is not None:
                self.last_error = failure
                self.error = f"{column.label}: {error}"

    # -- browser messages -------------------------------------------------------------
    def _on_custom(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "try":
            self.try_it(content.get("prompt", ""))
        elif kind == "compare":
            self.compare_with_sources(content.get("prompt", ""))
        elif kind == "stop":
            self.stop()
        elif kind == "save":
            self.save(content.get("name", ""))

    # -- text form ---------------------------------------------------------------------
    def _text(self) -> str:
        from ..display import text_bar

        lines = [f"BlendStudio {self.blend_name!r} ({self.blend_type})"]
        shares = self.preview.get("shares", {})
        width = max((len(p.name) for p in self._sources), default=0)
        for p in self._sources:
            weight = self.weights.get(p.name, 0)
            lines.append(
                f"  {p.name:<{width}}  weight {_number_literal(weight):>3}  "
                f"{text_bar(float(weight) / 100)}  share {shares.get(p.name, 0):>3}%"
            )
        params = self.preview.get("params")
        if params:
            lines.append("blend:")
            lines += [f"  {t:<10}  {params[t]:.2f}  {text_bar(params[t])}" for t in PARAMETER_NAMES]
        if self.saved_name:
            lines.append(f"saved as {self.saved_name!r}")
        if self.error:
            lines.append(f"error: {self.error}")
        return "\n".join(lines)


def _checked_weights(value: object, current: Mapping[str, float]) -> dict[str, float]:
    """``current`` updated with ``value`` (a partial ``{name: 0..100}``); TraitError if bad."""
    if not isinstance(value, Mapping):
        raise traitlets.TraitError(
            f"weights must be a dict of persona name -> 0..100, got {type(value).__name__}"
        )
    out = dict(current)
    for name, weight in value.items():
        if name not in current:
            raise traitlets.TraitError(
                f"weights: {name!r} is not in the studio; its personas are {', '.join(map(repr, current))}"
            )
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
            raise traitlets.TraitError(f"weight of {name!r} is {weight!r}; use a number from 0 to 100")
        if not 0 <= weight <= 100:
            raise traitlets.TraitError(f"weight of {name!r} is {weight}; use a number from 0 to 100")
        out[name] = int(weight) if float(weight).is_integer() else float(weight)
    return out
