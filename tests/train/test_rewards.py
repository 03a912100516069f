"""Rewards on literal completions, adversarial ones included; every reward survives pickling."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml

from emoreason.errors import EmoreasonError
from emoreason.facs import AU_TABLE
from emoreason.train.rewards import (
    FACTORIES,
    REWARDS,
    build_rewards,
    completion_text,
    get_length_reward,
    get_repetition_reward,
    get_reward,
)

GOOD = (
    "<think>\nKey observations: AU6 cheek raiser (marked) and AU12 lip corner puller (severe).\n"
    "Overall interpretation: a Duchenne smile.\nConclusion: The expression is best described as happiness.\n"
    "</think>\n<answer>happiness</answer>"
)
HAPPY_AUS = {"AU6": 3.0, "AU12": 4.0}
RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def score(name: str, completion, label="happiness", labels=None, aus=None) -> float | None:
    return REWARDS[name]([completion], label=[label], labels=[labels], aus=[aus or HAPPY_AUS])[0]


def test_a_good_completion_scores_full_marks() -> None:
    assert score("format", GOOD) == 1.0
    assert score("accuracy", GOOD) == 1.0
    assert score("au_f1", GOOD) == 1.0
    assert score("consistency", GOOD) == 1.0
    assert score("length", GOOD) == 0.0
    assert score("repetition", GOOD) == 0.0


def test_conversational_completions_are_read_like_strings() -> None:
    as_parts = [{"role": "assistant", "content": [{"type": "text", "text": GOOD}]}]
    as_string = [{"role": "assistant", "content": GOOD}]
    assert completion_text(as_parts) == completion_text(as_string) == GOOD
    for name in REWARDS:
        assert score(name, as_parts) == score(name, as_string) == score(name, GOOD)


def test_unhappy_is_not_happy() -> None:
    text = GOOD.replace("<answer>happiness</answer>", "<answer>unhappy</answer>")
    assert score("accuracy", text) == 0.0  # "unhappy" normalises to sadness, never to happiness
    assert score("consistency", text) == 0.0  # the Conclusion (happiness) and the AUs disagree with sadness


@pytest.mark.parametrize(
    "text",
    [
        GOOD.replace("<think>", ""),  # missing opening tag
        GOOD.replace("</think>", ""),  # missing closing tag
        GOOD.replace("<answer>happiness</answer>", "happiness"),  # no answer tags
        GOOD + "<answer>happiness</answer>",  # duplicated answer
        "<think>" + GOOD,  # duplicated think
        GOOD.replace("Overall interpretation:", ""),  # a CoT section missing
    ],
)
def test_broken_tags_fail_format(text: str) -> None:
    assert score("format", text) == 0.0


def test_answer_outside_the_label_set_earns_nothing() -> None:
    text = GOOD.replace("<answer>happiness</answer>", "<answer>hungry</answer>")
    assert score("accuracy", text) == 0.0
    assert score("format", text) == 1.0  # well-formed, just wrong


def test_compound_gold_uses_set_f1() -> None:
    partial = score("accuracy", GOOD, label="happily surprised", labels=["happily surprised"])
    assert partial == pytest.approx(2 / 3)
    full = GOOD.replace("<answer>happiness</answer>", "<answer>happily surprised</answer>")
    assert score("accuracy", full, label="happily surprised") == 1.0


EVERY_AU = ", ".join(f"AU{n}" for n in sorted(AU_TABLE))
CITED = "AU6 cheek raiser (marked) and AU12 lip corner puller (severe)"


def test_au_spam_is_penalised() -> None:
    spam = GOOD.replace(CITED, EVERY_AU)  # cite every AU in the FACS table
    value = score("au_f1", spam)
    assert value == pytest.approx(2 * (2 * 2 / (len(AU_TABLE) + 2)) - 1)  # F1 = 4/26 -> about -0.69
    one_right = GOOD.replace(" and AU12 lip corner puller (severe)", "")
    repeated = GOOD.replace(CITED, "AU12 " * 30)  # one AU cited over and over counts once
    assert value < 0 < score("au_f1", one_right) == score("au_f1", repeated) < score("au_f1", GOOD) == 1.0


def test_au_spam_loses_under_the_recipe_weights() -> None:
    """Citing every AU makes any emotional answer look supported (eval's evidence_consistency is high for all of
    them), so au_f1 must outweigh that: the weighted reward of spam stays far below an honest completion's."""
    recipe = yaml.safe_load((RECIPES / "qwen2.5-vl-3b-instruct" / "grpo_lora.yaml").read_text())
    weights = dict(zip(recipe["reward_funcs"], recipe["reward_weights"], strict=True))

    def total(text: str) -> float:
        return sum(w * (score(name, text) or 0.0) for name, w in weights.items())

    spam = GOOD.replace(CITED, EVERY_AU)
    assert total(spam) < total(GOOD) - 0.75
    assert total(spam.replace("happiness", "fear")) < total(GOOD) - 1.5  # spam + a wrong label: worse still


def test_rewards_are_the_eval_metrics_per_sample() -> None:
    """Each reward returns what emoreason.eval computes for the same completion (one function, two uses)."""
    from emoreason.eval.consistency import consistency_score
    from emoreason.eval.metrics import au_set_f1, format_ok, label_score
    from emoreason.reasoning.parser import parse_output

    texts = [GOOD, GOOD.replace(CITED, EVERY_AU), GOOD.replace("happiness</answer>", "sad</answer>"), "garbage"]
    texts += [GOOD.replace("Conclusion: The expression is best described as happiness.", "Conclusion: anger.")]
    for text in texts:
        parsed = parse_output(text)
        assert score("format", text) == float(format_ok(text))
        assert score("accuracy", text) == label_score(parsed.label, "happiness")
        assert score("consistency", text) == consistency_score(parsed)
        f1 = au_set_f1(parsed.au_numbers, [6, 12])
        assert score("au_f1", text) == (2 * f1 - 1 if parsed.aus else -1.0)


def test_au_f1_edges() -> None:
    no_aus = GOOD.replace("AU6 cheek raiser (marked) and AU12 lip corner puller (severe)", "a broad smile")
    assert score("au_f1", no_aus) == -1.0  # gold has AUs, none cited
    assert score("au_f1", GOOD, aus={"AU4": 0.2}) == 0.0  # gold has no AU above threshold: nothing to check
    assert score("au_f1", GOOD, aus={"AU6": 3.0}) == pytest.approx(2 * (2 / 3) - 1)


def test_unlabelled_rows_give_no_accuracy_signal() -> None:
    assert REWARDS["accuracy"]([GOOD], label=[None], labels=[None], aus=[HAPPY_AUS]) == [None]


def test_length_and_repetition_penalties() -> None:
    assert get_length_reward(max_words=10)(["word " * 15]) == [-0.5]
    assert get_length_reward(max_words=10)(["word " * 40]) == [-1.0]
    assert get_length_reward()([""]) == [-1.0]
    looped = "the face shows a smile " * 20
    assert get_repetition_reward(ngram=3)([looped])[0] < -0.9
    assert get_repetition_reward(ngram=3)(["one two three four five"])[0] == 0.0


@pytest.mark.parametrize("name", list(REWARDS))
def test_every_reward_survives_a_pickle_round_trip(name: str) -> None:
    reward = get_reward(name, max_words=50, ngram=3, label_set="basic")
    clone = pickle.loads(pickle.dumps(reward))
    assert type(clone) is type(reward) and vars(clone) == vars(reward)
    assert clone.__name__ == name
    texts = [GOOD, GOOD.replace("happiness</answer>", "anger</answer>"), "garbage"]
    cols = {"label": ["happiness"] * 3, "labels": [None] * 3, "aus": [HAPPY_AUS] * 3}
    assert clone(texts, **cols) == reward(texts, **cols)


def test_unknown_reward_names_list_the_valid_ones() -> None:
    with pytest.raises(EmoreasonError, match="format, accuracy, au_f1, consistency, length, repetition"):
        build_rewards(["format", "vibes"])
    assert set(FACTORIES) == set(REWARDS)


def test_ov_reward_is_the_eval_ov_metric_of_one_sample() -> None:
    """The `ov` reward and `emoreason eval`'s ov_f are one function (emoreason.eval.ov.ov_scores)."""
    from emoreason.eval.ov import ov_scores

    answers = ["joyful, excited", "happy", "annoyed", "zorgish", ""]
    texts = [GOOD.replace("<answer>happiness</answer>", f"<answer>{a}</answer>") for a in answers]
    gold = ["happiness"] * len(texts)
    for level in ("base", "synonym", "wheel"):
        got = get_reward("ov", level=level)(texts, label=gold, labels=[None] * len(texts), aus=[None] * len(texts))
        assert got == [ov_scores([a], ["happiness"]).f[level] for a in answers]  # type: ignore[union-attr]
    assert score("ov", texts[0]) == pytest.approx(2 / 3)  # wheel level by default: P 1/2, R 1
    assert score("ov", GOOD, label=None) is None  # no gold words: no signal
    with pytest.raises(EmoreasonError, match="unknown ov level 'sector'; choose from: base, synonym, wheel"):
        get_reward("ov", level="sector")


def test_one_registry_of_rewards() -> None:
    assert list(REWARDS) == list(FACTORIES) and "ov" in REWARDS
    assert all(type(REWARDS[name]) is type(FACTORIES[name]()) for name in FACTORIES)


def test_grpo_smoke_run_logs_the_ov_reward(tiny_vlm: Path, toy_data: Path, tmp_path: Path) -> None:
    import json

    from train_helpers import FAST

    from emoreason.train.config import parse_config
    from emoreason.train.grpo import run_grpo

    out = tmp_path / "grpo-ov"
    args = ["--model_name_or_path", str(tiny_vlm), "--dataset_path", str(toy_data), "--output_dir", str(out)]
    args += ["--max_steps", "1", "--per_device_train_batch_size", "4", "--num_generations", "4"]
    args += ["--max_completion_length", "16", "--reward_funcs", "ov", "repetition", "--repetition_ngram", "1"]
    args += ["--eval_strategy", "no"] + FAST
    run_grpo(parse_config("grpo", args))
    history = json.loads((out / "train_results.json").read_text())["log_history"]
    assert any("rewards/ov/mean" in h for h in history)


def test_a_batch_is_parsed_once_for_all_the_rewards(monkeypatch) -> None:
    import emoreason.train.rewards as rewards_mod

    calls: list[str] = []
    real = rewards_mod.parse_output

    def counting(text, label_set="compound"):
        calls.append(text)
        return real(text, label_set)

    monkeypatch.setattr(rewards_mod, "parse_output", counting)
    good = ("<think>Key observations: AU6 and AU12.\nOverall interpretation: a smile.\nConclusion: happiness."
            "</think><answer>happiness</answer>")
    completions = [good, "sadness", [{"role": "assistant", "content": good}]]
    columns = {"label": ["happiness", "sadness", "happiness"], "aus": [{"AU12": 3.0}] * 3}
    scores = rewards_mod.score_all(rewards_mod.build_rewards(list(rewards_mod.FACTORIES)), completions, **columns)
    assert len(scores) == len(rewards_mod.FACTORIES)
    assert len(calls) == 2 * len(completions)  # once per batch and label set ("ov" reads the open vocabulary)
    assert scores["format"] == [1.0, 0.0, 1.0]  # the shared parse's format_ok is eval's format_ok
    from emoreason.eval.metrics import format_ok

    assert scores["format"] == [float(format_ok(rewards_mod.completion_text(c))) for c in completions]
