"""Rich display of the models (luminora_nb.display): HTML for notebooks, text for everything else.

Real objects throughout: shipped personas, a real blend, and a conversation produced by
the client with the offline provider.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from luminora_nb import LuminoraCoreClient, ProviderConfig
from luminora_nb import display as d
from luminora_nb.personality.blend import blend_personalities
from luminora_nb.personality.library import get_builtin
from luminora_nb.types import (
    ChatResponse,
    Conversation,
    Message,
    MessageRole,
    PersonalityBlend,
    PersonalityData,
    SessionSummary,
)
from luminora_nb.types.persona import PARAMETER_NAMES

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Balance(HTMLParser):
    """Checks that every element is closed in order; collects text and tag names."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.errors: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if not self.stack or self.stack[-1] != "style":
            self.text.append(data)


def parse(html: str) -> _Balance:
    parser = _Balance()
    parser.feed(html)
    parser.close()
    assert not parser.errors, parser.errors
    assert not parser.stack, f"unclosed: {parser.stack}"
    return parser


def styles(html: str) -> str:
    """All CSS of a fragment: the <style> blocks and the style attributes."""
    blocks = re.findall(r"<style>(.*?)</style>", html, re.S)
    attributes = re.findall(r'style="([^"]*)"', html)
    return "\n".join(blocks + attributes)


def without_var_fallbacks(css: str) -> str:
    """``css`` with each ``var(--x, fallback)`` reduced to ``var(--x)``."""
    return re.sub(r"var\((--[\w-]+)\s*,[^()]*(?:\([^()]*\)[^()]*)*\)", r"var(\1)", css)


@pytest.fixture(scope="module")
def aurora() -> PersonalityData:
    return get_builtin("aurora")


@pytest.fixture(scope="module")
def blend() -> PersonalityData:
    return blend_personalities([get_builtin("aurora"), get_builtin("vex")], [0.7, 0.3], name="av")


@pytest.fixture
async def conversation() -> AsyncIterator[Conversation]:
    async with LuminoraCoreClient() as client:
        sid = await client.create_session("aurora", ProviderConfig(name="offline"), user_id="u1")
        await client.send_message(sid, "Hello!\nI have two lines.")
        await client.send_message(sid, f"Is {HOSTILE} safe?")
        conv = await client.get_conversation(sid)
        assert conv is not None
        yield conv


# ----------------------------------------------------------------------------- personality


def test_personality_html_shows_traits_parameters_levels_and_moods(aurora: PersonalityData) -> None:
    html = aurora._repr_html_()
    parsed = parse(html)
    text = " ".join(parsed.text)
    definition = aurora.definition
    assert definition is not None
    assert "Aurora" in text and aurora.description in text
    traits = definition.core_traits
    for value in (traits.archetype, traits.temperament, traits.communication_style):
        assert value in text
    params = definition.advanced_parameters.as_dict()
    assert set(params) == set(PARAMETER_NAMES)
    for name, value in params.items():
        # the label and the printed number, in the same table row
        assert re.search(rf'<th scope="row">{name}</th>.*?<td class="lnbr-num">{value:.2f}</td>', html), name
        assert f'style="width:{value * 100:.1f}%"' in html
    for level in definition.relationship_levels:
        low, high = level.affinity_range
        assert level.name in text and f"{low}\u2013{high}" in text
    for mood in definition.mood_config.moods:
        assert mood.name in text
    assert f"{definition.mood_config.default_mood} (default)" in text  # the default in words, not colour
    assert "<details" in html and "System prompt" in text  # the compiled prompt, folded away


def test_personality_text_has_bars_and_values(aurora: PersonalityData) -> None:
    text = d.personality_text(aurora)
    params = aurora.definition.advanced_parameters.as_dict()  # type: ignore[union-attr]
    for name, value in params.items():
        assert re.search(rf"^{name}\s+{value:.2f} [█·]{{10}}$", text, re.M), name
    assert "verbosity   0.65 ███████···" in text
    assert "levels: stranger 0-20, acquaintance 21-50, friend 51-100" in text
    assert "moods: calm (default)" in text
    bundle = aurora._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"] == text and bundle["text/html"] == aurora._repr_html_()


def test_blend_shows_sources_weights_and_type(blend: PersonalityData) -> None:
    html = blend._repr_html_()
    parsed = parse(html)
    text = " ".join(parsed.text)
    assert "Blend" in text and "(weighted_average)" in text
    assert re.search(r"aurora</span> 70%</li>.*vex</span> 30%</li>", html)
    assert 'class="lnbr-stack"' in html
    assert 'title="aurora: 70%"' in html and 'title="vex: 30%"' in html
    assert 'style="width:70.00%"' in html and 'style="width:30.00%"' in html
    for name in PARAMETER_NAMES:
        assert f'<th scope="row">{name}</th>' in html
    assert "blend (weighted_average): aurora 70%, vex 30%" in d.personality_text(blend)


def test_blend_weights_are_normalised_from_metadata() -> None:
    p = PersonalityData(
        name="mix",
        system_prompt="x",
        metadata={"blend": {"sources": ["a", "b"], "weights": {"a": 3, "b": 1}, "blend_type": "hybrid"}},
    )
    assert "blend (hybrid): a 75%, b 25%" in d.personality_text(p)
    html = p._repr_html_()
    parse(html)
    assert "a</span> 75%" in html and "b</span> 25%" in html


def test_simple_seed_form_shows_name_description_and_prompt() -> None:
    p = PersonalityData(
        name="helpful", description="A helpful AI", system_prompt="You are helpful.\nBe brief.", metadata={}
    )
    html = p._repr_html_()
    text = " ".join(parse(html).text)
    assert "helpful" in text and "A helpful AI" in text and "You are helpful.\nBe brief." in text
    assert (
        'class="lnbr-table lnbr-params"' not in html and "<table" not in html
    )  # no definition, no parameter bars
    assert d.personality_text(p) == "helpful\nA helpful AI\nsystem prompt: You are helpful.\n  Be brief."


def test_hostile_personality_text_is_escaped(aurora: PersonalityData) -> None:
    p = aurora.model_copy(
        update={
            "name_override": HOSTILE,
            "description_override": f'"quoted" {HOSTILE}',
            "metadata": {"blend": {"sources": [HOSTILE], "weights": {HOSTILE: 1}, "blend_type": HOSTILE}},
        }
    )
    html = p._repr_html_()
    assert "<script" not in html and ESCAPED in html
    assert "&quot;quoted&quot;" in html
    parse(html)
    seed = PersonalityData(name=HOSTILE, description=HOSTILE, system_prompt=HOSTILE)
    assert "<script" not in seed._repr_html_()
    assert HOSTILE in d.personality_text(seed)  # plain text is not HTML: shown as written


# ----------------------------------------------------------------------------- conversation


async def test_conversation_bubbles_roles_timestamps_and_badges(conversation: Conversation) -> None:
    html = conversation._repr_html_()
    parsed = parse(html)
    text = " ".join(parsed.text)
    assert "<script" not in html and ESCAPED in html
    assert html.count('class="lnbr-msg lnbr-msg-user"') == 2
    assert html.count('class="lnbr-msg lnbr-msg-assistant"') == 2
    assert text.count("user") >= 2 and text.count("assistant") >= 2  # role as text, not colour alone
    assert "Hello!\nI have two lines." in html and "white-space:pre-wrap" in html
    first = conversation.messages[0].timestamp
    assert f'datetime="{first.isoformat()}"' in html and f'title="{d._when(first)}"' in html
    assert parsed.tags.count("time") == 4
    reply_meta = conversation.messages[1].metadata
    usage = reply_meta["usage"]
    assert f"model {reply_meta['model']}" in text and "finish stop" in text
    assert f"tokens {usage['prompt_tokens']} in / {usage['completion_tokens']} out" in text
    assert "latency " in text and " ms" in text
    assert html.count('class="lnbr-badges"') == 2  # assistant messages only
    assert "earlier message" not in text


async def test_conversation_text_and_bundle(conversation: Conversation) -> None:
    text = d.conversation_text(conversation)
    lines = text.splitlines()
    assert lines[0] == f"conversation {conversation.session_id} · 4 messages"
    assert lines[1] == "user: Hello!"
    assert lines[2] == "      I have two lines."
    assert lines[3].startswith("assistant: ")
    assert f"user: Is {HOSTILE} safe?" in lines
    assert re.search(r"^  \[model .+ · finish stop · tokens \d+ in / \d+ out · latency .+\]$", text, re.M)
    bundle = conversation._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"} and bundle["text/plain"] == text
    assert conversation._repr_mimebundle_(include={"text/plain"}) == {"text/plain": text}
    assert set(conversation._repr_mimebundle_(exclude={"text/plain"})) == {"text/html"}


def test_long_conversation_renders_only_the_last_200() -> None:
    start = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    messages = [
        Message(
            role=MessageRole.USER if i % 2 == 0 else MessageRole.ASSISTANT,
            content=f"message number {i}",
            timestamp=start + timedelta(minutes=i),
        )
        for i in range(250)
    ]
    conv = Conversation(session_id="long", messages=messages)
    html = conv._repr_html_()
    parse(html)
    assert html.count('class="lnbr-msg ') == 200
    assert "… 50 earlier messages not shown" in html
    assert "message number 49<" not in html and "message number 50<" in html and "message number 249<" in html
    text = d.conversation_text(conv)
    assert "… 50 earlier messages not shown" in text and "message number 49\n" not in text
    assert text.count("\nuser: ") + text.count("\nassistant: ") == 200
    # the date is written once per day, then times only
    assert ">2024-05-01 09:50</time>" in html and ">09:51</time>" in html
    assert "… 1 earlier message not shown" in d.conversation_html(conv, limit=249)
    assert "… 250 earlier messages not shown" in d.conversation_text(conv, limit=0)
    assert "earlier" not in d.conversation_html(conv, limit=1000)


def test_empty_conversation() -> None:
    conv = Conversation(session_id="empty")
    assert "No messages yet." in conv._repr_html_()
    assert d.conversation_text(conv) == "conversation empty · 0 messages"


# ----------------------------------------------------------------------------- reply, blend recipe, summary


async def test_chat_response_reply_and_badges() -> None:
    async with LuminoraCoreClient() as client:
        sid = await client.create_session("aurora", ProviderConfig(name="offline"))
        reply = await client.send_message(sid, "Hello!")
    html = reply._repr_html_()
    text = " ".join(parse(html).text)
    assert reply.content in text
    assert f"model {reply.model}" in text and "finish stop" in text
    assert f"tokens {reply.usage['prompt_tokens']} in / {reply.usage['completion_tokens']} out" in text
    assert "latency" in text  # from metadata["latency_ms"]
    plain = reply._repr_mimebundle_()["text/plain"]
    assert plain.startswith(reply.content + "\n[model ") and "latency" in plain

    hostile = ChatResponse(content=HOSTILE, model=HOSTILE, metadata={"latency_ms": "n/a"})
    out = hostile._repr_html_()
    assert "<script" not in out and out.count(ESCAPED) == 2 and "latency" not in out
    assert d.chat_response_text(ChatResponse()) == "(empty reply)"


def test_personality_blend_recipe() -> None:
    recipe = PersonalityBlend(
        personalities=[get_builtin("aurora"), get_builtin("vex")],
        weights=[7, 3],
        blend_type="hybrid",
        custom_rules={"advanced_parameters.humor": "max"},
    )
    html = recipe._repr_html_()
    text = " ".join(parse(html).text)
    assert "hybrid" in text and "2 personalities" in text
    assert "70%" in text and "30%" in text and "weight 7" in text and "weight 3" in text
    assert "advanced_parameters.humor" in text
    assert d.blend_text(recipe).splitlines() == [
        "blend (hybrid) of 2",
        "  aurora   70%  ███████···",
        "  vex      30%  ███·······",
        "  rules: advanced_parameters.humor=max",
    ]
    assert set(recipe._repr_mimebundle_()) == {"text/plain", "text/html"}


def test_session_summary_card() -> None:
    t0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    summary = SessionSummary(
        session_id="s-1",
        personality_name=HOSTILE,
        provider="offline",
        user_id="u1",
        message_count=4,
        created_at=t0,
        last_active=t0 + timedelta(minutes=5),
    )
    html = summary._repr_html_()
    text = " ".join(parse(html).text)
    assert "<script" not in html and ESCAPED in html
    for expected in ("s-1", "offline", "u1", "4", "2024-05-01 12:00:00 UTC", "2024-05-01 12:05:00 UTC"):
        assert expected in text
    plain = summary._repr_mimebundle_()["text/plain"]
    assert plain.splitlines()[0] == "session s-1" and "  messages     4" in plain


# ----------------------------------------------------------------------------- style and safety


def all_fragments(aurora: PersonalityData, blend: PersonalityData) -> list[str]:
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    return [
        aurora._repr_html_(),
        blend._repr_html_(),
        PersonalityData(name="seed", system_prompt="x")._repr_html_(),
        PersonalityBlend(personalities=[aurora, blend], weights=[1, 1])._repr_html_(),
        Conversation(
            session_id="s", messages=[Message(role="user", content="a"), Message(role="system", content="b")]
        )._repr_html_(),
        ChatResponse(content="c", model="m", usage={"prompt_tokens": 1})._repr_html_(),
        SessionSummary(
            session_id="s", personality_name="p", provider="x", created_at=t0, last_active=t0
        )._repr_html_(),
    ]


def test_css_uses_jupyterlab_variables_scoped_and_without_fixed_colours(
    aurora: PersonalityData, blend: PersonalityData
) -> None:
    for html in all_fragments(aurora, blend):
        parse(html)
        css = styles(html)
        assert "var(--jp-layout-color" in css and "var(--jp-ui-font-family" in css
        assert "var(--jp-brand-color1" in css and "var(--jp-border-color2" in css
        assert "<script" not in html.lower() and not re.search(r"<[^>]*\son\w+\s*=", html)  # no JS
        # no hex colours, not even in fallbacks; a fallback is currentColor or a translucent grey
        assert not re.search(r"#[0-9a-fA-F]{3,8}\b", css), css
        assert not re.search(r"\b(?:rgb|hsl|hsla)\(", css)
        for fallback in re.findall(r"var\(--jp-[\w-]+\s*,\s*((?:[^()]|\([^()]*\))*)\)", css):
            if re.search(r"color|rgba", fallback, re.I):
                assert fallback in ("currentColor",) or fallback.startswith("rgba(128, 128, 128,"), fallback
        # every colour / background declaration uses a variable (fallbacks aside)
        core = without_var_fallbacks(css)
        for prop, value in re.findall(r"(?<![\w-])(color|background(?:-color)?)\s*:\s*([^;}]+)", core):
            assert value.strip().startswith("var(--jp-"), (prop, value)
        # every selector is scoped by the lnbr- prefix
        for block in re.findall(r"<style>(.*?)</style>", html, re.S):
            for selectors in re.findall(r"([^{}]+)\{", block):
                for selector in selectors.split(","):
                    assert selector.strip().startswith(".lnbr"), selector
        # the root element carries the class the styles are scoped under
        assert re.search(r'</style><div class="lnbr lnbr-\w+">', html)


def test_without_var_fallbacks_helper() -> None:
    css = "a{background:var(--jp-layout-color3, rgba(128, 128, 128, 0.25));color:var(--jp-x)}"
    assert without_var_fallbacks(css) == "a{background:var(--jp-layout-color3);color:var(--jp-x)}"


def test_values_outside_range_and_junk_metadata_never_break_the_repr() -> None:
    assert d.text_bar(float("nan")) == "··········" and d.text_bar(2) == "█" * 10
    assert 'style="width:0.0%"' in d.bar_html(-1, label="x")
    conv = Conversation(
        session_id="s",
        messages=[
            Message(
                role="assistant",
                content="x",
                metadata={"usage": "lots", "latency_ms": float("inf"), "model": None, "finish_reason": 3},
            )
        ],
    )
    assert "finish 3" in conv._repr_html_() and "[finish 3]" in d.conversation_text(conv)
    junk = PersonalityData(name="j", metadata={"blend": {"sources": "ab", "weights": [1]}})
    parse(junk._repr_html_())
    assert d.stacked_bar_html([("a", 0), ("b", 0)]).count("width:0.00%") == 2


def test_provider_config_has_no_rich_repr() -> None:
    assert not hasattr(ProviderConfig(name="openai", api_key="sk-secret"), "_repr_html_")
    assert not hasattr(ProviderConfig, "_repr_mimebundle_")


@pytest.mark.integration  # starts another process
def test_display_module_is_pure_stdlib_and_lazy() -> None:
    code = (
        "import sys, luminora_nb.types, luminora_nb.display; "
        "heavy = {'pandas', 'matplotlib', 'ipywidgets', 'duckdb', 'IPython'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = "import sys, luminora_nb; print('luminora_nb.display' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
