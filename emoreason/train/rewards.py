"""GRPO rewards: the per-sample form of the eval metrics, with the signature TRL calls.

Every reward is ``reward(completions, **columns) -> list[float | None]``. ``completions`` are strings or
conversational lists (``[{"role": "assistant", "content": ...}]``); ``columns`` are the dataset's gold columns
(``label``, ``labels``, ``aus``), repeated once per generation by TRL. Each reward parses with the one parser and
scores with the function ``emoreason eval`` uses, so a reward and its metric can never disagree.

Rewards are instances of module-level classes (picklable, unlike closures); ``get_x(...)`` factories set options.
Each instance carries ``__name__``, which TRL uses to log ``rewards/<name>/mean``.

TRL calls every reward on the same batch of completions, one after another. The batch is parsed once: the parses
of the last ``PARSE_CACHE`` batches are kept (keyed by label set and the texts) and shared by all the rewards.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from emoreason.errors import EmoreasonError
from emoreason.eval.metrics import gold_labels
from emoreason.facs import coerce_aus, present
from emoreason.labels import LabelSet
from emoreason.reasoning.parser import ParsedOutput, parse_output

Completion = str | list[dict[str, Any]]


def completion_text(completion: Completion) -> str:
    """The assistant text of one completion, string or conversational (content as a string or as parts).

    >>> completion_text([{"role": "assistant", "content": [{"type": "text", "text": "<answer>sad</answer>"}]}])
    '<answer>sad</answer>'
    """
    if isinstance(completion, str):
        return completion
    if not completion:
        return ""
    content = completion[-1].get("content", "") if isinstance(completion[-1], dict) else completion[-1]
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return str(content or "")


def _column(columns: dict[str, Any], name: str, n: int) -> list[Any]:
    values = columns.get(name)
    return list(values) if values is not None else [None] * n


PARSE_CACHE = 4
_PARSED: OrderedDict[tuple[str, tuple[str, ...]], list[ParsedOutput]] = OrderedDict()
_PARSED_LOCK = threading.Lock()


def parse_batch(texts: Sequence[str], label_set: LabelSet = "compound") -> list[ParsedOutput]:
    """``parse_output`` of each text, parsed once per batch however many rewards ask (see the module docstring).
    The parses are shared: treat them as read-only."""
    key = (label_set, tuple(texts))
    with _PARSED_LOCK:
        if key in _PARSED:
            _PARSED.move_to_end(key)
            return _PARSED[key]
    parsed = [parse_output(text, label_set) for text in texts]
    with _PARSED_LOCK:
        _PARSED[key] = parsed
        while len(_PARSED) > PARSE_CACHE:
            _PARSED.popitem(last=False)
    return parsed


class _Reward:
    """Base: the batch's shared parses (``parse_batch``), each scored against its row's gold columns."""

    __name__ = "reward"

    def __init__(self, label_set: LabelSet = "compound") -> None:
        self.label_set = label_set

    def __call__(self, completions: Sequence[Completion], **columns: Any) -> list[float | None]:
        n = len(completions)
        labels, multi, aus = _column(columns, "label", n), _column(columns, "labels", n), _column(columns, "aus", n)
        texts = [completion_text(completion) for completion in completions]
        parsed = parse_batch(texts, self.label_set)
        return [
            self.score(text, one, gold_labels(label, many), gold_aus)
            for text, one, label, many, gold_aus in zip(texts, parsed, labels, multi, aus, strict=True)
        ]

    def score(self, text: str, parsed: ParsedOutput, gold: list[str], gold_aus: Any) -> float | None:
        raise NotImplementedError

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "__name__")
        return f"{type(self).__name__}({options})"


class FormatReward(_Reward):
    """1.0 for a full ``<think>…</think><answer>…</answer>`` match with all three CoT sections, else 0.0."""

    __name__ = "format"

    def score(self, text: str, parsed: ParsedOutput, gold: list[str], gold_aus: Any) -> float | None:
        from emoreason.eval.metrics import format_ok

        return 1.0 if format_ok(parsed) else 0.0  # eval's format check, on the shared parse


class AccuracyReward(_Reward):
    """Label score of ``<answer>`` against gold: 1/0 for one label; set F1 for compound or multi-label gold."""

    __name__ = "accuracy"

    def score(self, text: str, parsed: ParsedOutput, gold: list[str], gold_aus: Any) -> float | None:
        from emoreason.eval.metrics import label_score

        if not gold:
            return None  # an unlabelled row gives no accuracy signal
        predicted = parsed.label if parsed.label is not None else (parsed.labels or None)
        return float(label_score(predicted, gold if len(gold) > 1 else gold[0]))


class AUF1Reward(_Reward):
    """2*F1-1 over the AU numbers cited in ``<think>`` against the gold AUs at or above the presence threshold.

    0 when the gold has no AUs (nothing to check), -1 when it has some and none are cited.
    """

    __name__ = "au_f1"

    def score(self, text: str, parsed: ParsedOutput, gold: list[str], gold_aus: Any) -> float | None:
        from emoreason.eval.metrics import au_set_f1

        reference = present(coerce_aus(gold_aus))
        if not reference:
            return 0.0
        if not parsed.aus:
            return -1.0
        return 2.0 * float(au_set_f1(parsed.au_numbers, reference) or 0.0) - 1.0


class ConsistencyReward(_Reward):
    """Mean of two agreements with ``<answer>``: the Conclusion's label, and the label the cited AUs imply
    (``emoreason.eval.consistency.consistency_score``, the per-sample value the eval averages)."""

    __name__ = "consistency"

    def score(self, text: str, parsed: ParsedOutput, gold: list[str], gold_aus: Any) -> float | None:
        from emoreason.eval.consistency import consistency_score

        return float(consistency_score(parsed))


class OVReward(_Reward):
    """Open-vocabulary emotion-set F of ``<answer>`` against the gold words at one level (base, synonym or wheel):
    ``emoreason.eval.ov.ov_scores`` of this one sample, the function ``emoreason eval`` reports as ``ov_f``.
    None for a row with no gold label."""

    __name__ = "ov"

    def __init__(self, level: str = "wheel", label_set: LabelSet = "open") -> None:
        from emoreason.eval.ov import LEVELS

        if level not in LEVELS:
            raise EmoreasonError(f"unknown ov level {level!r}; choose from: {', '.join(LEVELS)}")
        super().__init__(label_set)
        self.level = level

    def score(self, text: str, parsed: ParsedOutput, gold: list[str], gold_aus: Any) -> float | None:
        from emoreason.eval.ov import ov_scores

        scores = ov_scores([parsed.answer], [gold]) if gold else None
        return None if scores is None else float(scores.f[self.level])


class LengthReward(_Reward):
    """0 up to ``max_words`` words, then falls linearly to -1 at twice that; an empty reply is -1."""

    __name__ = "length"

    def __init__(self, max_words: int = 200, label_set: LabelSet = "compound") -> None:
        super().__init__(label_set)
        self.max_words = max_words

    def score(self, text: str, parsed: ParsedOutput, gold: list[str], gold_aus: Any) -> float | None:
        words = len(text.split())
        if words == 0:
            return -1.0
        return -min(1.0, max(0, words - self.max_words) / self.max_words)


class RepetitionReward(_Reward):
    """Minus the share of repeated word n-grams: 0 for no repeats, near -1 for a loop of one phrase."""

    __name__ = "repetition"

    def __init__(self, ngram: int = 4, label_set: LabelSet = "compound") -> None:
        super().__init__(label_set)
        self.ngram = ngram

    def score(self, text: str, parsed: ParsedOutput, gold: list[str], gold_aus: Any) -> float | None:
        words = re.findall(r"\w+", text.lower())
        grams = [tuple(words[i : i + self.ngram]) for i in range(len(words) - self.ngram + 1)]
        if not grams:
            return 0.0
        return -(1.0 - len(set(grams)) / len(grams))


def get_format_reward(label_set: LabelSet = "compound") -> FormatReward:
    return FormatReward(label_set)


def get_accuracy_reward(label_set: LabelSet = "compound") -> AccuracyReward:
    return AccuracyReward(label_set)


def get_au_f1_reward(label_set: LabelSet = "compound") -> AUF1Reward:
    return AUF1Reward(label_set)


def get_consistency_reward(label_set: LabelSet = "compound") -> ConsistencyReward:
    return ConsistencyReward(label_set)


def get_ov_reward(level: str = "wheel", label_set: LabelSet = "open") -> OVReward:
    return OVReward(level, label_set)


def get_length_reward(max_words: int = 200, label_set: LabelSet = "compound") -> LengthReward:
    return LengthReward(max_words, label_set)


def get_repetition_reward(ngram: int = 4, label_set: LabelSet = "compound") -> RepetitionReward:
    return RepetitionReward(ngram, label_set)


# The one reward registry: name -> factory. Settings go through get_reward / build_rewards; REWARDS holds each
# factory's default instance (derived from FACTORIES, not a second list).
FACTORIES: dict[str, Callable[..., _Reward]] = {
    "format": get_format_reward,
    "accuracy": get_accuracy_reward,
    "au_f1": get_au_f1_reward,
    "consistency": get_consistency_reward,
    "length": get_length_reward,
    "repetition": get_repetition_reward,
    "ov": get_ov_reward,
}
REWARDS: dict[str, Callable[..., list[float | None]]] = {name: factory() for name, factory in FACTORIES.items()}


def get_reward(name: str, **settings: Any) -> _Reward:
    """One reward by name, built with the settings its factory takes. Unknown names list the valid ones."""
    if name not in FACTORIES:
        raise EmoreasonError(f"unknown reward {name!r}; choose from: {', '.join(REWARDS)}")
    factory = FACTORIES[name]
    accepted = factory.__code__.co_varnames[: factory.__code__.co_argcount]
    return factory(**{k: v for k, v in settings.items() if k in accepted})


def build_rewards(names: Sequence[str], **settings: Any) -> list[_Reward]:
    """The rewards for a run, in order; ``settings`` (label_set, max_words, ngram, level) go to factories that take
    them."""
    return [get_reward(name, **settings) for name in names]


def score_all(
    rewards: Sequence[_Reward], completions: Sequence[Completion], **columns: Any
) -> dict[str, list[float | None]]:
    """Every reward over the same completions, by name (used by the synthesis loop and the learning benchmark)."""
    return {reward.__name__: reward(completions, **columns) for reward in rewards}
