"""Core SDK benchmark: blending, compiling, import time, offline turns per second.

Run: ``.venv/bin/python benchmarks/bench_core.py``

Prints, for this machine, each figure next to its target and the ratio figure/target
(<= 1.0 meets it; turns per second is inverted so <= 1.0 still means "meets"). Each
figure is measured against a baseline from the same process where one makes sense
(import time minus a bare interpreter start; blend time next to a plain pydantic
validation of one definition), because these machines are noisy.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time

from _harness import median_s, target_row

from luminora_nb import LuminoraCoreClient, ProviderConfig
from luminora_nb.personality.blend import blend_personalities
from luminora_nb.personality.compile import compile_prompt
from luminora_nb.personality.library import builtin_names, get_builtin
from luminora_nb.types.persona import PersonaDefinition


def import_seconds(runs: int = 7) -> tuple[float, float]:
    def run(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    bare = statistics.median(run("pass") for _ in range(runs))
    full = statistics.median(run("import luminora_nb") for _ in range(runs))
    return full - bare, bare


async def offline_turns_per_second(turns: int = 4000) -> float:
    async with LuminoraCoreClient() as client:
        sid = await client.create_session("aurora", ProviderConfig(name="offline"))
        for i in range(200):  # warm-up
            await client.send_message(sid, f"warm up {i}")
        sid = await client.create_session("aurora", ProviderConfig(name="offline"))
        messages = [f"Tell me about topic number {i}, please." for i in range(turns)]
        start = time.perf_counter()
        for text in messages:
            await client.send_message(sid, text)
        return turns / (time.perf_counter() - start)


def main() -> None:
    names = list(builtin_names())
    library = [get_builtin(n) for n in names]
    pair = library[:2]
    ten = [library[i % len(library)].model_copy(update={"name": f"p{i}"}) for i in range(10)]
    definition = library[0].definition
    assert definition is not None
    raw = definition.model_dump(mode="json")

    validate_us = median_s(lambda: PersonaDefinition.model_validate(raw), 500) * 1e6
    blend2 = median_s(lambda: blend_personalities(pair, [0.7, 0.3], name="b2"), 500) * 1e6
    blend10 = median_s(lambda: blend_personalities(ten, [1.0] * 10, name="b10"), 200) * 1e6
    compile_us = median_s(lambda: compile_prompt(definition), 2000) * 1e6
    import_s, bare_s = import_seconds()
    tps = asyncio.run(offline_turns_per_second())

    print(
        f"baseline: pydantic validation of one definition {validate_us:,.1f} us; bare interpreter start "
        f"{bare_s * 1000:,.0f} ms"
    )
    target_row("blend of 2 personas (median)", blend2, "us", 1000)
    target_row("blend of 10 personas (median)", blend10, "us", 5000)
    target_row("compile one definition (median)", compile_us, "us", 1000)
    target_row("import luminora_nb (wall, minus bare)", import_s * 1000, "ms", 500)
    target_row("offline turns/s (client, memory store)", tps, "turns/s", 2000, lower_is_better=False)
    print(
        f"blend of 2 = {blend2 / validate_us:.1f}x one validation; blend of 10 = {blend10 / validate_us:.1f}x"
    )


if __name__ == "__main__":
    main()
