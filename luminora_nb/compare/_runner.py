"""Running a comparison: plan it, run its cells concurrently, rerun one.

Every cell runs in a fresh session (no history from another cell can leak into its
reply), created with ``metadata={"compare_run": run_id, "compare_label": label,
"prompt_index": i, "repeat": r}`` so the session log can group a run's turns afterwards.

* **Two phases.** :func:`plan_compare` checks every input and registers the blends
  (nothing touches the client before all input is valid), then returns a
  :class:`~luminora_nb.compare.CompareResult` whose cells are all ``"pending"``;
  :func:`run_compare` runs the pending cells. :func:`compare` does both. A widget can
  therefore draw the whole grid first, fill it from ``on_cell`` and offer a retry
  (:func:`rerun_cell`) for a failed cell while the others are still running. A
  cancelled run leaves the cells it had not finished ``"pending"``, and ``run_compare``
  on the same result finishes them.
* **Bounded concurrency.** ``min(concurrency, cells)`` workers take cells in order
  from one shared queue, so at most ``concurrency`` cells are in flight, they start
  in matrix order (the grid fills row by row) and a large matrix costs a handful of
  tasks, not one per cell. The workers live in an :class:`asyncio.TaskGroup`: cancelling
  the run cancels every cell and leaves no task behind.
* **Failures are data.** A cell whose session or turn fails records the exception's
  type and message (the library scrubs API keys from its messages; any other exception
  is scrubbed of the provider's key here as well) and the other cells go on. Bad input,
  and a provider that cannot even be configured (unknown name, missing API key), raise
  at once instead of producing a matrix of identical failures.
* **Light imports.** tqdm (the progress bar) is imported only when used; without tqdm
  there is simply no bar.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict, Unpack

from ..errors import LuminoraError, SessionError
from ..types._base import redact
from ..types.provider import ProviderConfig
from ._result import CompareCell, CompareResult
from ._specs import (
    BlendSpec,
    blend_specs,
    check_baseline,
    check_positive,
    check_prompts,
    check_provider,
    provider_config,
    register,
)

if TYPE_CHECKING:
    from ..client import LuminoraCoreClient

__all__ = ["CellCallback", "compare", "plan_compare", "rerun_cell", "run_compare"]

logger = logging.getLogger("luminora_nb.compare")

#: Called (or awaited, when it returns an awaitable) with every finished cell.
CellCallback: TypeAlias = Callable[["CompareCell"], Awaitable[None] | None]


class CompareOptions(TypedDict, total=False):
    """The keyword options of :func:`compare`, for the callers that pass them on."""

    provider: ProviderConfig | Mapping[str, Any] | str | None
    concurrency: int
    repeat: int
    baseline: str | int | None
    progress: bool | None
    on_cell: CellCallback | None
    run_id: str | None
    user_id: str | None


def _scrub(text: str, config: ProviderConfig) -> str:
    return redact(text, [config.api_key] if config.api_key else ())


async def plan_compare(
    client: LuminoraCoreClient,
    blends: Sequence[BlendSpec] | Mapping[str, BlendSpec],
    prompts: Sequence[str],
    *,
    provider: ProviderConfig | Mapping[str, Any] | str | None = None,
    repeat: int = 1,
    baseline: str | int | None = None,
    run_id: str | None = None,
    user_id: str | None = None,
) -> CompareResult:
    """Check the input, register the blends and return the matrix with every cell pending.

    Arguments as in :func:`compare`; run the cells with :func:`run_compare`.

    Example:
        >>> import asyncio
        >>> from luminora_nb import LuminoraCoreClient
        >>> async def main():
        ...     async with LuminoraCoreClient() as client:
        ...         plan = await plan_compare(client, ["aurora", "vex"], ["Hi"], repeat=2, baseline="vex")
        ...         return plan.baseline, [c.status for c in plan.cells]
        >>> asyncio.run(main())
        ('vex', ['pending', 'pending', 'pending', 'pending'])
    """
    specs = blend_specs(blends)
    labels = [spec.label for spec in specs]
    prompt_list = check_prompts(prompts)
    repeats = check_positive("repeat", repeat)
    base = check_baseline(baseline, labels)
    if run_id is not None and (not isinstance(run_id, str) or not run_id.strip()):
        raise SessionError(f"run_id must be a non-empty string, got {run_id!r}")
    config = provider_config(provider, client.default_provider)
    await check_provider(config)
    await register(client, specs)
    result = CompareResult(
        run_id=run_id or f"cmp_{uuid.uuid4().hex[:12]}",
        labels=labels,
        personalities={spec.label: spec.name for spec in specs},
        prompts=prompt_list,
        repeat=repeats,
        baseline=base,
        provider=config,
        user_id=user_id,
    )
    result.cells = [
        CompareCell(
            label=spec.label,
            personality=spec.name,
            prompt=prompt,
            prompt_index=p,
            repeat=r,
            is_baseline=spec.label == base,
        )
        for p, prompt in enumerate(prompt_list)
        for spec in specs
        for r in range(repeats)
    ]
    return result


async def _run_cell(
    client: LuminoraCoreClient, result: CompareResult, cell: CompareCell, config: ProviderConfig
) -> None:
    """Run one cell in a fresh session, filling it in; failures are recorded, not raised."""
    cell._reset()
    cell.status = "running"
    metadata = {
        "compare_run": result.run_id,
        "compare_label": cell.label,
        "prompt_index": cell.prompt_index,
        "repeat": cell.repeat,
    }
    try:
        cell.session_id = await client.create_session(
            cell.personality, config, user_id=result.user_id, metadata=metadata
        )
        response = await client.send_message(cell.session_id, cell.prompt)
    except Exception as exc:
        if not isinstance(exc, LuminoraError):
            logger.debug(
                "compare cell %s/%d/%d failed", cell.label, cell.prompt_index, cell.repeat, exc_info=True
            )
        cell.status = "error"
        cell.error = _scrub(str(exc) or type(exc).__name__, config)
        cell.error_type = type(exc).__name__
    except BaseException:
        # Cancelled (or interrupted): the cell goes back to pending, to be run again later.
        cell._reset()
        raise
    else:
        usage = response.usage
        cell.reply = response.content
        cell.prompt_tokens = usage.get("prompt_tokens")
        cell.completion_tokens = usage.get("completion_tokens")
        cell.total_tokens = usage.get("total_tokens")
        latency = response.metadata.get("latency_ms")
        cell.latency_ms = float(latency) if isinstance(latency, int | float) else None
        cell.finish_reason = response.finish_reason
        cell.status = "ok"
    result._settle(cell.prompt_index, cell.repeat)


def _progress_bar(progress: bool | None, total: int) -> Any:
    if progress is False or total == 0:
        return None
    try:
        auto = importlib.import_module("tqdm.auto")
    except ImportError:
        if progress:
            warnings.warn("progress=True needs tqdm (pip install tqdm); running without a bar", stacklevel=4)
        return None
    # progress=None: the bar appears only if the run lasts more than half a second.
    return auto.tqdm(total=total, desc="compare", unit="cell", delay=0 if progress else 0.5)


async def run_compare(
    client: LuminoraCoreClient,
    result: CompareResult,
    *,
    concurrency: int = 8,
    progress: bool | None = None,
    on_cell: CellCallback | None = None,
) -> CompareResult:
    """Run the pending cells of ``result`` (from :func:`plan_compare`), filling it in place.

    Cells start in matrix order, at most ``concurrency`` at a time. ``on_cell`` is
    called (awaited if it returns an awaitable) with each cell as it finishes,
    successfully or not, inside the worker that ran it: keep it quick. An exception
    it raises stops the run and propagates. If the run is cancelled, the cells it had
    not finished are ``"pending"`` again and another ``run_compare`` finishes them.

    Raises:
        SessionError: ``concurrency`` is not an int >= 1.
    """
    workers = check_positive("concurrency", concurrency)
    pending = [cell for cell in result.cells if cell.status == "pending"]
    queue: Iterator[CompareCell] = iter(pending)
    bar = _progress_bar(progress, len(pending))
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for cell in queue:
            if cell.status != "pending":  # rerun_cell got to it first
                continue
            await _run_cell(client, result, cell, result.provider)
            if bar is not None:
                if not cell.ok:
                    failures += 1
                    bar.set_postfix(failed=failures, refresh=False)
                bar.update(1)
            if on_cell is not None:
                returned = on_cell(cell)
                if inspect.isawaitable(returned):
                    await returned

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(workers, len(pending))):
                group.create_task(worker())
    except BaseExceptionGroup as grouped:
        # Only on_cell (or a bug) raises out of a worker: surface the exception itself.
        raise grouped.exceptions[0] from None
    finally:
        if bar is not None:
            bar.close()
    return result


class PlanOptions(TypedDict, total=False):
    """The keyword options of :func:`plan_compare`, which :func:`compare` passes on."""

    provider: ProviderConfig | Mapping[str, Any] | str | None
    repeat: int
    baseline: str | int | None
    run_id: str | None
    user_id: str | None


async def compare(
    client: LuminoraCoreClient,
    blends: Sequence[BlendSpec] | Mapping[str, BlendSpec],
    prompts: Sequence[str],
    *,
    concurrency: int = 8,
    progress: bool | None = None,
    on_cell: CellCallback | None = None,
    **plan: Unpack[PlanOptions],
) -> CompareResult:
    """Run every prompt with every blend (``repeat`` times each), each in a fresh session.

    :func:`plan_compare` then :func:`run_compare`: the options of the plan (``provider``,
    ``repeat``, ``baseline``, ``run_id``, ``user_id``, with its defaults) pass through.

    Args:
        client: The client to run on; mixes and personalities are registered in it.
        blends: A list of blends or a ``{label: blend}`` dict; a blend is a personality
            name, a :class:`~luminora_nb.types.PersonalityData` or a ``{name: weight}``
            mapping blended on the fly (see the module docs for its label).
        prompts: The prompts, each a non-empty string.
        provider: A :class:`~luminora_nb.types.ProviderConfig`, a dict, or a provider
            name (default: the client's default provider, offline unless configured).
        concurrency: At most this many cells in flight at once.
        repeat: How many times each prompt runs with each blend.
        baseline: Label or index of the blend the others are compared with (default:
            the first).
        progress: Show a tqdm bar: always (True), never (False), or only when the run
            lasts more than half a second (None).
        on_cell: Called (or awaited) with each cell as it finishes.
        run_id: Id of the run (default: a fresh ``cmp_...`` id), stored in the sessions'
            metadata.
        user_id: User id of the sessions.

    Returns:
        The filled :class:`CompareResult`; failed cells carry their error.

    Raises:
        PersonalityError: no blends, an unknown personality, bad weights, a duplicate
            label, or a label that would replace a personality that is not a blend.
        SessionError: no prompts, an empty prompt, ``repeat`` or ``concurrency`` below
            1, or an unknown baseline.
        ProviderError: a provider that cannot be configured (unknown, no API key).

    Example:
        >>> import asyncio
        >>> from luminora_nb import LuminoraCoreClient
        >>> async def main():
        ...     async with LuminoraCoreClient() as client:
        ...         r = await compare(client, {"calm": "aurora", "blunt": "vex"}, ["Hello!"], progress=False)
        ...         return [(c.label, c.is_baseline, c.status) for c in r.cells]
        >>> asyncio.run(main())
        [('calm', True, 'ok'), ('blunt', False, 'ok')]
    """
    check_positive("concurrency", concurrency)  # before the plan registers anything
    result = await plan_compare(client, blends, prompts, **plan)
    return await run_compare(client, result, concurrency=concurrency, progress=progress, on_cell=on_cell)


async def rerun_cell(
    client: LuminoraCoreClient,
    result: CompareResult,
    prompt_index: int,
    label: str,
    repeat: int = 0,
    *,
    provider: ProviderConfig | Mapping[str, Any] | str | None = None,
) -> CompareCell:
    """Run one cell again, in a fresh session, updating it (and its row's baseline flags) in place.

    This is the grid's retry button: it works while :func:`run_compare` is still busy
    with other cells, and on a cell a cancelled run left pending. ``provider`` replaces
    the run's provider for this cell (for example with a corrected API key).

    Returns:
        The same :class:`CompareCell` object, now filled in.

    Raises:
        SessionError: no such cell, or it is running right now.
    """
    cell = result.cell(prompt_index, label, repeat)
    if cell.status == "running":
        raise SessionError(
            f"cell {label!r}, prompt {prompt_index}, repeat {repeat} is running; wait for it to finish"
        )
    config = result.provider if provider is None else provider_config(provider, result.provider)
    if config is not result.provider:
        await check_provider(config)
    await _run_cell(client, result, cell, config)
    return cell
