"""The composer: builds one offline reply from a persona profile and an analysed message.

A reply is a list of :class:`Segment` sentences, each with a role
(:data:`SegmentRole`): ``head`` (a salutation, thanks, a trigger line), ``ack`` (an
empathy acknowledgement), ``core`` (the point), ``style`` (an aside, a metaphor, a
recalled fact, a mood line), ``elab`` (elaboration) and ``closer`` (the closing line or
question). The rules, in the order they apply:

* **Trigger responses**: a greeting takes ``on_greeting``, or the current relationship
  level's ``greetings`` (by ``context["relationship_level"]``, else
  ``context["affinity_points"]``); a first meeting always takes the first line ("Welcome
  back" comes later). ``on_goodbye``, ``on_success``, ``on_error`` and ``on_confusion``
  lead their intents' replies. Persona lines are used as written (``authored``): never
  put in register, hedged, or given fillers or signature phrases; only the user's name
  and the punctuation style touch them.
* **Safety guards**: a message that touches a forbidden topic (half of the topic's
  content words, at least one) is declined politely, whatever else it asks; greetings,
  farewells and thanks are never declined.
* **Empathy** answers a named feeling: a negative one with sympathy (warm from 0.65,
  brief from 0.35, a bare "Noted." below), a positive one with gladness (from 0.35), a
  neutral one with thanks (from 0.5). Without a feeling, a question, statement,
  confusion or error is acknowledged at 0.75 and above, and confusion or an error by a
  chance that grows from 0 at 0.4 to certain at 0.8; a terse persona (verbosity below
  0.3) does so only when the sentence budget leaves room.
* **Humor** adds a playful aside (always at 0.7 and above, by a chance growing from 0.35),
  never to a greeting, a farewell, an empty message or a user who feels bad.
  **Creativity** adds a metaphor, on the same scale, to a question, confusion, error or
  success that has a topic.
* **Memory**: the latest fact the user gave earlier (or ``context["facts"]``) that shares
  a word with this message is recalled; the user's name is woven into greetings, thanks,
  farewells and refusals, and closes half of the answers to questions and statements.
* **Mood**: a gentle mood (``context["mood"]`` such as "concerned", with
  ``context["mood_intensity"]`` 0.5 or more) adds a reassuring line, except to a
  farewell; an energetic one ("excited") ends the first sentence with "!".
* **Communication style** picks the closing line, one pool when the reply explains (a
  question, confusion or error) and another when it chats: a Socratic persona asks a
  question back, a supportive one reassures, ... A Socratic closer to an explanation is
  kept whatever the budget (from verbosity 0.3).
* **Verbosity** sets the sentence budget, ``1 + round(6 * verbosity)``: about one
  sentence at 0, seven at 1. The salutation and thanks, the acknowledgement, the core and
  the mandatory style come first; the optional parts (a mood line, a recalled fact, a
  terse persona's acknowledgement, an aside, a metaphor, the closer) fill the budget in
  that order, and elaborations fill what is left.
* **Directness**: at 0.65 and above an explanation leads with its point; below 0.35 the
  point is hedged ("On X, as far as I can tell, ...").
* **Vocabulary**: a signature phrase, one of the two highest-ranked, leads the core when
  the reply explains something (a question, confusion, error or success), else the first
  elaboration; when verbosity >= 0.55 another of the top four leads the last
  elaboration. Never a question, an aside or a persona line; a phrase ending in "that"
  leads only a clause with a subject.
* **Formality** (at least ``1 - safety_guards.tone_limits.max_informality``) sets the
  register (:func:`~luminora_nb.providers.offline.wording.in_register`): every
  contraction below 0.4, the light ones below 0.7, full forms above. The persona's
  fillers open two sentences below 0.35 and maybe one below 0.7; a casual opener
  ("Oh, ...") may follow below 0.3, a courteous one ("If I may, ...") from 0.8.
* **Punctuation style**: ``minimal`` turns exclamation marks, semicolons and colons into
  full stops and commas; ``expressive`` ends the first and last sentences with "!";
  ``elaborate`` does too and joins two sentences with a semicolon. Nothing turns
  exclamatory when the user feels bad.

Determinism: every choice is drawn from :class:`Choices`, a BLAKE2b digest of the
persona name, the six parameters rounded to two decimals, the user's message, the
number of earlier user turns (``context["turn_index"]`` when given) and the temperature
when given. Same input, same output, in any process. ``temperature=0`` always takes the
first, most characteristic variant and makes every chance of one half or more happen;
other temperatures only select among the same deterministic variants. A pool never
repeats the variant the previous reply used when it has another.

Example:
    >>> from luminora_nb.providers.offline.analysis import analyse
    >>> from luminora_nb.providers.offline.profile import neutral_profile
    >>> profile = neutral_profile("Guide", "")
    >>> choices = Choices.for_turn("Guide", profile.params, "Hello!", 0, 0.0)
    >>> memory = ConversationMemory(user_name="Sam", facts=[], last_reply="", prior_turns=0)
    >>> composer = Composer(profile, profile.params, analyse("Hello!"), memory, {}, choices)
    >>> composer.compose("Hello!")[:38]
    "Hello, Sam! What's on your mind today?"
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from ...types.persona import PARAMETER_NAMES
from .analysis import WORD_PATTERN, Intent, MessageAnalysis
from .profile import PersonaProfile
from .wording import WORDING, Register, in_register

__all__ = ["Choices", "Composer", "ConversationMemory", "Segment", "SegmentRole"]

#: The part a sentence plays in a reply; replies are ordered by role.
SegmentRole = Literal["head", "ack", "core", "style", "elab", "closer"]

_ORDER: Final[dict[SegmentRole, int]] = {"head": 0, "ack": 1, "core": 2, "style": 3, "elab": 4, "closer": 5}
_ORDER_POINT_FIRST: Final[dict[SegmentRole, int]] = {**_ORDER, "core": -1}
_EXPLAIN_INTENTS: Final[frozenset[Intent]] = frozenset(
    {"question", "confusion", "error", "success", "statement", "about_user"}
)
# A dangling "... that" phrase is woven only before a clause with a subject.
_CLAUSE_STARTS: Final = (
    "it",
    "the ",
    "there ",
    "we ",
    "you ",
    "a ",
    "this ",
    "that ",
    "once ",
    "every ",
    "i ",
)
_SENTENCE_END = re.compile(r"[.!?…]['\")\]]*$")
_GREETING_WORD = re.compile(
    r"^(Hello|Hi|Hey|Hiya|Welcome back|Welcome|Good (?:morning|afternoon|evening|day))([!.,])"
)

_REPLIES: Final = WORDING.replies
_QUESTIONS: Final = _REPLIES.questions
_CORE: Final = _REPLIES.core
_ABOUT_USER: Final = _REPLIES.about_user
_FOLLOW_UPS: Final = _REPLIES.follow_ups
_LINES: Final = _REPLIES.lines
_STYLE: Final = WORDING.style
_SALUTATIONS: Final = WORDING.register.salutations
_CLOSERS: Final = WORDING.closers
_ELABORATIONS: Final = WORDING.elaborations.families
_FAMILY_OF_INTENT: Final = WORDING.elaborations.family_of_intent


def lower_first(text: str) -> str:
    """``text`` with its first letter lowered when it only starts a sentence ("The", "A"; not "I", "AI").

    Example:
        >>> lower_first("The sky"), lower_first("I think"), lower_first("AI is")
        ('the sky', 'I think', 'AI is')
    """
    if len(text) > 1 and text[0].isupper() and (text[1].islower() or (text[0] == "A" and text[1] == " ")):
        return text[0].lower() + text[1:]
    return text


class Choices:
    """Deterministic choices drawn from a BLAKE2b digest of the turn's inputs.

    Example:
        >>> greedy = Choices("key", greedy=True)
        >>> greedy.index(5), greedy.chance(0.6), greedy.chance(0.4)
        (0, True, False)
    """

    __slots__ = ("_digest", "_greedy", "_position")

    def __init__(self, key: str, *, greedy: bool) -> None:
        self._digest = hashlib.blake2b(key.encode("utf-8"), digest_size=64).digest()
        self._position = 0
        self._greedy = greedy

    @classmethod
    def for_turn(
        cls,
        persona_name: str,
        params: Mapping[str, float],
        user_text: str,
        prior_turns: int,
        temperature: float | None,
    ) -> Choices:
        """The choices of one turn, seeded as the module docstring says."""
        key = "\x1f".join(
            (
                persona_name,
                ",".join(f"{params[name]:.2f}" for name in PARAMETER_NAMES),
                user_text,
                str(prior_turns),
                "" if temperature is None else f"{temperature:.1f}",
            )
        )
        return cls(key, greedy=temperature == 0.0)

    def _next(self) -> int:
        if self._position + 2 > len(self._digest):
            self._digest = hashlib.blake2b(self._digest, digest_size=64).digest()
            self._position = 0
        value = (self._digest[self._position] << 8) | self._digest[self._position + 1]
        self._position += 2
        return value

    def index(self, count: int) -> int:
        """An index in ``range(count)`` (always 0 when greedy; no draw when ``count <= 1``)."""
        if count <= 1 or self._greedy:
            return 0
        return self._next() % count

    def chance(self, probability: float) -> bool:
        """True with ``probability`` (when greedy: true iff ``probability >= 0.5``)."""
        if probability <= 0.0:
            return False
        if probability >= 1.0:
            return True
        if self._greedy:
            return probability >= 0.5
        return self._next() < probability * 65536


@dataclass(slots=True)
class Segment:
    """One sentence of a reply; ``authored`` text comes verbatim from the persona."""

    text: str
    role: SegmentRole
    authored: bool = False
    woven: bool = False


@dataclass(slots=True)
class ConversationMemory:
    """What the conversation so far tells the simulator.

    Attributes:
        user_name: the user's name, if known.
        facts: what the user said about themselves, oldest first.
        last_reply: the previous assistant reply (its variants are not repeated).
        prior_turns: the number of earlier user turns.
    """

    user_name: str | None
    facts: list[str]
    last_reply: str
    prior_turns: int


def _preference_key(verb: str) -> str:
    return "love" if verb in ("love", "adore") else "like" if verb in ("like", "enjoy") else "hate"


class Composer:
    """Builds one reply from a profile, the effective parameters and the analysed message."""

    def __init__(
        self,
        profile: PersonaProfile,
        params: Mapping[str, float],
        turn: MessageAnalysis,
        memory: ConversationMemory,
        context: Mapping[str, Any],
        choices: Choices,
    ) -> None:
        self.profile = profile
        self.turn = turn
        self.memory = memory
        self.context = context
        self.choices = choices
        self.verbosity = params["verbosity"]
        self.formality = max(params["formality"], profile.min_formality)
        self.humor = params["humor"]
        self.empathy = params["empathy"]
        self.creativity = params["creativity"]
        self.directness = params["directness"]
        self.register: Register = (
            "casual" if self.formality < 0.4 else "formal" if self.formality >= 0.7 else "neutral"
        )
        self.topic = turn.topic or "this"

    # -- helpers -----------------------------------------------------------------------
    def pick(self, pool: Sequence[str]) -> str:
        """A variant of ``pool``, not the one the last reply used when there is another."""
        choice = pool[self.choices.index(len(pool))] if pool else ""
        if len(pool) > 1 and self.memory.last_reply and choice in self.memory.last_reply:
            choice = pool[(pool.index(choice) + 1) % len(pool)]
        return choice

    def say(self, template: str, role: SegmentRole, **values: str) -> Segment:
        """Our own sentence: ``template`` in register, filled in, capitalised."""
        # The register applies to our wording only; the user's words are echoed as given.
        if self.register != "formal":
            template = in_register(template, self.register)
        text = template.format(topic=self.topic, **values) if "{" in template else template
        return Segment(text[0].upper() + text[1:] if text else text, role)

    def authored(self, text: str, role: SegmentRole) -> Segment:
        """A persona's own line, as written (a full stop added when it has no ending)."""
        text = text.strip()
        if not _SENTENCE_END.search(text):
            text += "."
        return Segment(text, role, authored=True)

    # -- parts -------------------------------------------------------------------------
    def trigger(self, pool: tuple[str, ...], fallback: str, role: SegmentRole = "head") -> Segment:
        """A line of the trigger ``pool``, else of our own ``fallback`` core lines."""
        if pool:
            return self.authored(self.pick(pool), role)
        return self.say(self.pick(_CORE[fallback]), role)

    def greeting(self) -> Segment:
        """The greeting: the level's or the persona's, with the user's name woven in."""
        level = self.profile.level_greetings(
            self.context.get("relationship_level"), self.context.get("affinity_points")
        )
        pool = level or self.profile.on_greeting
        if pool and self.memory.prior_turns == 0:
            pool = pool[:1]  # a first meeting takes the first line ("Welcome back" comes later)
        segment = (
            self.authored(self.pick(pool), "core") if pool else self.say(self.pick(_CORE["greeting"]), "core")
        )
        name = self.memory.user_name
        if name and name not in segment.text:
            with_name, count = _GREETING_WORD.subn(
                lambda match: f"{match[1]}, {name}{match[2]}", segment.text, count=1
            )
            if count:
                segment.text = with_name
            else:
                segment.text = f"{_SALUTATIONS[self.register]}, {name}! {segment.text}"
        return segment

    def salutation(self) -> Segment:
        """A salutation in register ("Hey, Sam!") before a reply to a greeted message."""
        name = f", {self.memory.user_name}" if self.memory.user_name and not self.turn.user.name else ""
        return Segment(f"{_SALUTATIONS[self.register]}{name}!", "head")

    def empathy_ack(self) -> Segment | None:
        """The empathy acknowledgement, if any (see the module docstring)."""
        turn, user, empathy = self.turn, self.turn.user, self.empathy
        if user.feeling is not None:
            if user.valence < 0:
                key = "neg_high" if empathy >= 0.65 else "neg_mid" if empathy >= 0.35 else "neg_low"
            elif user.valence > 0:
                key = "pos_high" if empathy >= 0.65 else "pos_mid" if empathy >= 0.35 else ""
            else:
                key = "neutral_high" if empathy >= 0.5 else ""
            return self.say(self.pick(_STYLE.empathy[key]), "ack", feeling=user.feeling) if key else None
        intent = "statement" if turn.intent == "about_user" else turn.intent
        if turn.intent == "about_user" and not (user.preference or user.identity or user.work):
            return None
        if intent in ("question", "confusion", "error", "statement") and (
            empathy >= 0.75
            or (intent in ("confusion", "error") and self.choices.chance((empathy - 0.4) * 2.5))
        ):
            return self.say(self.pick(_STYLE.empathy[intent]), "ack")
        return None

    def core(self) -> list[Segment]:
        """The point of the reply, for every intent but greetings and farewells."""
        turn, intent, profile = self.turn, self.turn.intent, self.profile
        bare = turn.topic is None
        if intent == "question":
            return [self.say(self.pick(_QUESTIONS[turn.question_type]), "core")]
        if intent == "about_self":
            description = lower_first(profile.description.rstrip("."))
            line = self.pick(_LINES["self_introduction"])  # not put in register: it quotes the persona
            return [Segment(line.format(name=profile.name, description=description), "core")]
        if intent in ("success", "error", "confusion"):
            trigger_pool = {"success": profile.on_success, "error": profile.on_error}.get(
                intent, profile.on_confusion
            )
            segments = [self.authored(self.pick(trigger_pool), "head")] if trigger_pool else []
            segments.append(self.say(self.pick(_CORE[f"{intent}_bare" if bare else intent]), "core"))
            return segments
        if intent == "about_user":
            return self.about_user()
        if intent in ("statement", "empty", "how_are_you"):
            key = "statement_bare" if intent == "statement" and bare else intent
            return [self.say(self.pick(_CORE[key]), "core")]
        if intent == "thanks":
            thanks = {"casual": "thanks_casual", "formal": "thanks_formal"}.get(self.register, "thanks")
            return [self.with_name(self.say(self.pick(_CORE[thanks]), "core"))]
        raise AssertionError(f"no core for intent {intent!r}")  # pragma: no cover - intents are closed

    def about_user(self) -> list[Segment]:
        """What is said back about the user: their name, then one thing they told."""
        user = self.turn.user
        segments: list[Segment] = []
        if user.name:
            key = "name_formal" if self.register == "formal" else "name"
            segments.append(self.say(self.pick(_ABOUT_USER[key]), "head", name=user.name))
        if user.preference:
            verb, liked = user.preference
            segments.append(self.say(self.pick(_ABOUT_USER[_preference_key(verb)]), "core", obj=liked))
        elif user.identity:
            segments.append(self.say(self.pick(_ABOUT_USER["identity"]), "core", what=user.identity))
        elif user.work:
            segments.append(self.say(self.pick(_ABOUT_USER["work"]), "core", what=user.work))
        elif user.feeling:
            key = (
                "feel_negative"
                if user.valence < 0
                else "feel_positive"
                if user.valence > 0
                else "feel_neutral"
            )
            segments.append(self.say(self.pick(_ABOUT_USER[key]), "core"))
        if segments and all(segment.role != "core" for segment in segments):
            segments[-1].role = "core"
        return segments

    def follow_up(self) -> Segment | None:
        """The closing line or question, by intent and communication style."""
        turn, user = self.turn, self.turn.user
        if turn.intent == "about_user":
            if user.preference:
                verb, liked = user.preference
                return self.say(self.pick(_FOLLOW_UPS[_preference_key(verb)]), "closer", obj=liked)
            if user.identity:
                return self.say(self.pick(_FOLLOW_UPS["identity"]), "closer", what=user.identity)
            if user.work:
                return self.say(self.pick(_FOLLOW_UPS["work"]), "closer")
        if turn.intent in ("greeting", "farewell") or (turn.intent == "about_user" and user.feeling):
            return None
        if turn.intent in ("how_are_you", "about_self", "thanks"):
            return self.say(self.pick(_FOLLOW_UPS[turn.intent]), "closer")
        if turn.intent in ("question", "confusion", "error"):
            return self.say(self.pick(_CLOSERS.explaining[self.profile.style]), "closer")
        return self.say(self.pick(_CLOSERS.chatting[self.profile.style]), "closer")

    def with_name(self, segment: Segment) -> Segment:
        """``segment`` addressed to the user by name ("Anytime, Sam!"), when known."""
        name = self.memory.user_name
        if name and name not in segment.text and segment.text[-1:] in ".!?":
            segment.text = f"{segment.text[:-1]}, {name}{segment.text[-1]}"
        return segment

    def fact_recall(self) -> Segment | None:
        """The latest remembered fact that shares a word with this message, if any."""
        keywords = [keyword for keyword in self.turn.keywords if len(keyword) > 2]
        if not keywords or not self.memory.facts:
            return None
        for fact in reversed(self.memory.facts):
            if not set(WORD_PATTERN.findall(fact.lower())).isdisjoint(keywords):
                key = "recall_told" if fact.startswith("you ") else "recall_known"
                return self.say(self.pick(_LINES[key]), "style", fact=fact)
        return None

    def forbidden(self, text: str) -> str | None:
        """The forbidden topic ``text`` touches, if any."""
        if not self.profile.forbidden or self.turn.intent in ("greeting", "farewell", "thanks"):
            return None
        words = {word.lower() for word in WORD_PATTERN.findall(text)}
        for topic in self.profile.forbidden:
            if len(topic.words & words) >= topic.needed:
                return topic.topic
        return None

    # -- the reply ---------------------------------------------------------------------
    def compose(self, text: str) -> str:
        """The reply to the user's ``text`` (the message :attr:`turn` analyses)."""
        turn, choices = self.turn, self.choices
        intent = turn.intent
        refused = self.forbidden(text)
        if refused is not None:
            segment = self.say(self.pick(_CORE["refuse"]), "core", forbidden=refused)
            return self.finish([self.with_name(segment)], refused=True)

        head: list[Segment] = []
        mandatory_style: list[Segment] = []
        optional: list[Segment] = []
        if intent == "greeting":
            core = [self.greeting()]
        elif intent == "farewell":
            core = [self.trigger(self.profile.on_goodbye, "farewell", "core")]
            if self.memory.user_name and self.memory.user_name not in core[0].text:
                farewell = self.pick(_LINES["farewell_with_name"])
                core.append(self.say(farewell, "closer", name=self.memory.user_name))
        else:
            core = self.core()
            if turn.greeted:
                head.append(self.salutation())
        if turn.thanked and intent != "thanks":
            head.append(self.say(self.pick(_CORE["thanks"]), "head"))

        ack = self.empathy_ack()
        if ack is not None and turn.user.feeling is None and self.verbosity < 0.3:
            optional.append(ack)  # a terse persona validates only when there is room
            ack = None
        negative = turn.user.valence < 0 and turn.user.feeling is not None

        # Style: humour, creativity, memory, mood.
        if intent not in ("greeting", "farewell", "empty") and not negative:
            if self.humor >= 0.7:
                mandatory_style.append(self.say(self.pick(_STYLE.humour), "style"))
            elif self.humor >= 0.35 and choices.chance((self.humor - 0.35) * 2.0):
                optional.append(self.say(self.pick(_STYLE.humour), "style"))
        if intent in ("question", "confusion", "error", "success") and turn.topic is not None:
            if self.creativity >= 0.7:
                mandatory_style.append(self.say(self.pick(_STYLE.metaphors), "style"))
            elif self.creativity >= 0.35 and choices.chance((self.creativity - 0.35) * 2.0):
                optional.append(self.say(self.pick(_STYLE.metaphors), "style"))
        recall = self.fact_recall()
        if recall is not None:
            optional.insert(0, recall)
        mood = self.context.get("mood")
        intensity = self.context.get("mood_intensity", 1.0)
        strong_mood = isinstance(intensity, int | float) and intensity >= 0.5
        if isinstance(mood, str) and mood in _STYLE.gentle_moods and strong_mood and intent != "farewell":
            optional.insert(0, self.say(self.pick(_STYLE.gentle_mood_lines), "style"))

        closer = self.follow_up()
        if closer is not None:
            if (
                self.profile.style == "socratic"
                and intent in ("question", "confusion", "error")
                and self.verbosity >= 0.3
            ):
                mandatory_style.append(closer)
            else:
                optional.append(closer)

        # Verbosity: about one sentence at 0, seven at 1; elaborations fill what is left.
        segments = [*head, *([ack] if ack else []), *core, *mandatory_style]
        budget = 1 + round(self.verbosity * 6)
        for segment in optional:
            if len(segments) >= budget:
                break
            segments.append(segment)
        family = _ELABORATIONS[_FAMILY_OF_INTENT[intent]]
        start = choices.index(len(family))
        for offset in range(min(len(family), budget - len(segments))):
            segments.append(self.say(family[(start + offset) % len(family)], "elab"))
        energetic = isinstance(mood, str) and mood in _STYLE.energetic_moods and strong_mood
        return self.finish(segments, energetic=energetic)

    def finish(self, segments: list[Segment], *, refused: bool = False, energetic: bool = False) -> str:
        """Order the sentences, hedge, weave vocabulary and fillers, punctuate, join."""
        intent = self.turn.intent
        point_first = self.directness >= 0.65 and intent in _EXPLAIN_INTENTS and intent != "about_user"
        order = _ORDER_POINT_FIRST if point_first else _ORDER
        segments.sort(key=lambda segment: order[segment.role])
        templates = [segment for segment in segments if not segment.authored]
        if not refused:
            if self.directness < 0.35 and intent in _EXPLAIN_INTENTS:
                self.hedge(segments)
            self.weave_vocabulary(segments)
            self.add_fillers(templates)
            if self.memory.user_name and intent in ("question", "statement") and self.choices.chance(0.5):
                closer = next((segment for segment in segments if segment.role == "closer"), None)
                if closer is not None:
                    self.with_name(closer)
        return " ".join(self.punctuate(segments, energetic=energetic and not refused))

    def weave_vocabulary(self, segments: list[Segment]) -> None:
        """Lead one or two of our sentences with the persona's signature phrases."""
        vocabulary = self.profile.phrases
        if not vocabulary:
            return
        # Statements only (never a question, an aside or a trigger line); the core first
        # when the reply explains something, else the elaborations.
        explains = self.turn.intent in ("question", "confusion", "error", "success")
        roles = ("core", "elab") if explains else ("elab",)
        candidates = [
            segment
            for segment in segments
            if not segment.authored
            and segment.role in roles
            and not segment.text.startswith("(")
            and segment.text.endswith((".", "!"))
        ]
        if not candidates:
            return
        first = self.choices.index(min(2, len(vocabulary)))
        phrases = [vocabulary[first]]
        if self.verbosity >= 0.55 and len(vocabulary) > 1:
            others = [rank for rank in range(min(4, len(vocabulary))) if rank != first]
            phrases.append(vocabulary[others[self.choices.index(len(others))]])
        # The dangling "... that" phrases introduce a clause; other dangling phrases
        # ("the liberty of", "what if") cannot lead an arbitrary sentence and are skipped.
        core = next((segment for segment in candidates if segment.role == "core"), candidates[0])
        targets = [core, *reversed([segment for segment in candidates if segment is not core])]
        for phrase in phrases:
            dangling = phrase.lower().endswith("that")
            if dangling:  # "notice that" + a clause with a subject, never an imperative
                target = next(
                    (
                        segment
                        for segment in targets
                        if not segment.woven and segment.text.lower().startswith(_CLAUSE_STARTS)
                    ),
                    None,
                )
            else:
                target = next((segment for segment in targets if not segment.woven), None)
            if target is None:
                continue
            lead = phrase[0].upper() + phrase[1:]
            if ": " in target.text:  # never two colons in one sentence
                target.text = f"{lead}, {lower_first(target.text)}"
            elif phrase[-1] in ".!?":
                target.text = f"{lead} {target.text}"
            elif dangling:
                target.text = f"{lead} {lower_first(target.text)}"
            else:
                target.text = f"{lead}: {lower_first(target.text)}"
            target.woven = True

    def hedge(self, segments: list[Segment]) -> None:
        """Soften the core statement ("On X, as far as I can tell, ...")."""
        core = next(
            (
                segment
                for segment in segments
                if segment.role == "core" and not segment.authored and not segment.woven
            ),
            None,
        )
        if core is None:
            return
        hedge = _STYLE.hedges[self.choices.index(len(_STYLE.hedges))]
        text = core.text
        if not text.endswith("."):
            return  # questions and exclamations are not hedged
        if text.startswith("On ") and ", " in text:
            lead, _, body = text.partition(", ")
            core.text = f"{lead}, {hedge} {lower_first(body)}"
        else:
            core.text = f"{hedge[0].upper()}{hedge[1:]} {lower_first(text)}"

    def add_fillers(self, templates: list[Segment]) -> None:
        """Fillers (two when casual, maybe one when neutral) and a casual or formal opener."""
        plain = [
            segment
            for segment in templates
            if not segment.woven
            and segment.role not in ("head", "ack")
            and not segment.text.startswith(("(", "I ", "I'"))
        ]
        if not plain:
            return
        fillers = self.profile.fillers
        if self.formality < 0.35:
            count = 2
        elif self.formality < 0.7:
            count = 1 if self.choices.chance(0.5) else 0
        else:
            count = 0
        used = 0
        if fillers:
            for segment in plain[:count]:
                filler = fillers[self.choices.index(len(fillers))]
                if segment.text.lower().startswith(filler.lower()):
                    continue
                separator = " " if filler[-1] in ".!?,…" else ", "
                segment.text = f"{filler[0].upper()}{filler[1:]}{separator}{lower_first(segment.text)}"
                segment.woven = True
                used += 1
        rest = [segment for segment in plain if not segment.woven]
        if rest and self.formality < 0.3 and (not used or self.choices.chance(0.5)):
            rest[0].text = f"{self.pick(WORDING.register.casual_openers)}, {lower_first(rest[0].text)}"
            rest[0].woven = True
        elif rest and self.formality >= 0.8 and self.choices.chance(0.5):
            rest[0].text = f"{self.pick(WORDING.register.formal_openers)}, {lower_first(rest[0].text)}"
            rest[0].woven = True

    def punctuate(self, segments: list[Segment], *, energetic: bool) -> list[str]:
        """The sentences' texts in the persona's punctuation style (see the module docstring)."""
        style = self.profile.punctuation
        texts = [segment.text for segment in segments]
        somber = self.turn.user.valence < 0 and self.turn.user.feeling is not None
        if style == "minimal":
            return [text.replace("!", ".").replace(";", ",").replace(": ", ", ") for text in texts]
        if (style in ("expressive", "elaborate") or energetic) and not somber:
            for position in (0, len(texts) - 1) if style != "standard" else (0,):
                if texts[position].endswith("."):
                    texts[position] = texts[position][:-1] + "!"
        if style == "elaborate":
            for position in range(len(texts) - 1):
                joinable = segments[position].role in ("core", "style", "elab") and segments[
                    position + 1
                ].role in ("style", "elab")
                if joinable and texts[position].endswith(".") and not texts[position + 1].startswith("("):
                    texts[position] = f"{texts[position][:-1]}; {lower_first(texts[position + 1])}"
                    del texts[position + 1]
                    break
        return texts
