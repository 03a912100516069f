"""The synthesis loop: K candidates per row, threshold filtering, a new row-format dataset and stats per round,
resume, and retraining between rounds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from datasets import load_from_disk

from emoreason.errors import EmoreasonError
from emoreason.reasoning.rules import explain
from emoreason.testing.toy_emotions import TOY_LABELS
from emoreason.train.synth import SynthConfig, run_synth

CUES = {"AU12": "happiness", "AU15": "sadness", "AU26": "surprise"}


class ScriptedModel:
    """Stands in for sampling: per row, candidate 0 is the rule engine's CoT for the gold label (passes every
    threshold), candidate 1 names a wrong label, the rest are junk. Records every call."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, config: SynthConfig, adapter: str | None):
        def sample(messages: list, images: list) -> list[str]:
            self.calls.append(len(messages))
            out = []
            for i, _ in enumerate(messages):
                text = messages[i][-1]["content"][-1]["text"]
                label = next((lab for au, lab in CUES.items() if au in text), "anger")
                aus = TOY_LABELS[label][1]
                c = i % config.num_candidates
                out.append(
                    explain(aus, label=label).text
                    if c == 0
                    else explain(aus, label="fear").text
                    if c == 1
                    else "no idea"
                )
            return out

        return sample


def _config(data: Path, out: Path, **kw: Any) -> SynthConfig:
    return SynthConfig(
        model_name_or_path="unused", dataset_path=str(data), output_dir=str(out), num_candidates=3, batch_size=4, **kw
    )


def test_synth_keeps_passing_candidates_and_writes_stats(toy_data: Path, tmp_path: Path) -> None:
    model = ScriptedModel()
    stats = run_synth(_config(toy_data, tmp_path, num_rounds=2), generator=model)
    assert [s["round"] for s in stats] == [0, 1]
    first = stats[0]
    assert first["samples"] == 8 and first["candidates"] == 24 and first["kept"] == 8
    assert first["acceptance_rate"] == 1.0 and first["mean_reward"]["format"] == pytest.approx(2 / 3)
    data = load_from_disk(first["dataset"])["train"]
    assert len(data) == 8 and set(data.column_names) >= {"id", "images", "aus", "label", "cot", "meta"}
    assert all(row["cot"].endswith(f"<answer>{row['label']}</answer>") for row in data)
    assert data[0]["meta"]["synth_round"] == 0 and "#r0c0" in data[0]["id"]
    saved = json.loads((tmp_path / "stats.json").read_text())["rounds"]
    assert saved[1]["kept"] == 8 and (tmp_path / "round_1" / "stats.json").is_file()
    assert model.calls == [12, 12, 12, 12]  # 8 rows x 3 candidates in batches of 4 rows, two rounds


def test_synth_resumes_without_regenerating(toy_data: Path, tmp_path: Path) -> None:
    run_synth(_config(toy_data, tmp_path), generator=ScriptedModel())
    work = tmp_path / "round_0" / "candidates.jsonl"
    lines = work.read_text().splitlines()
    work.write_text("\n".join(lines[:5]) + "\n" + lines[5][:20])  # as if killed mid-write
    again = ScriptedModel()
    stats = run_synth(_config(toy_data, tmp_path), generator=again)
    assert again.calls == [9]  # only the 3 unfinished rows, 3 candidates each
    assert stats[0]["kept"] == 8


def test_synth_kill_and_resume_gives_the_same_dataset(toy_data: Path, tmp_path: Path) -> None:
    whole = run_synth(_config(toy_data, tmp_path / "whole"), generator=ScriptedModel())
    run_synth(_config(toy_data, tmp_path / "cut"), generator=ScriptedModel())
    work = tmp_path / "cut" / "round_0" / "candidates.jsonl"
    lines = work.read_text().splitlines()
    work.write_text("\n".join(lines[:2]) + "\n" + lines[2][:30])  # killed mid-write, like a SIGKILL
    resumed = run_synth(_config(toy_data, tmp_path / "cut"), generator=ScriptedModel())
    assert work.read_text().count("\n") == 8 and work.read_text().endswith("}\n")
    assert load_from_disk(resumed[0]["dataset"])["train"].to_list() == load_from_disk(whole[0]["dataset"])[
        "train"].to_list()  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "cut" / "round_0").iterdir()) == [
        "candidates.jsonl", "candidates.jsonl.settings.json", "data", "stats.json"]  # fmt: skip


def test_synth_resume_with_other_sampling_settings_refuses(toy_data: Path, tmp_path: Path) -> None:
    run_synth(_config(toy_data, tmp_path), generator=ScriptedModel())
    with pytest.raises(EmoreasonError, match=r"candidates.jsonl was made with different settings \(temperature: 1.0 "
                       r"then, 0.7 now\); use another --output_dir, or delete .*candidates.jsonl"):  # fmt: skip
        run_synth(_config(toy_data, tmp_path, temperature=0.7), generator=ScriptedModel())
    # thresholds only refilter the candidates: a resume with other thresholds is allowed
    again = ScriptedModel()
    run_synth(_config(toy_data, tmp_path, reward_thresholds=[1.0, 1.0, 0.0]), generator=again)
    assert again.calls == []


def test_synth_with_strict_thresholds_says_what_to_do(toy_data: Path, tmp_path: Path) -> None:
    config = _config(toy_data, tmp_path, reward_funcs=["format"], reward_thresholds=[2.0])
    with pytest.raises(EmoreasonError, match="lower --reward_thresholds"):
        run_synth(config, generator=ScriptedModel())
    stats = json.loads((tmp_path / "round_0" / "stats.json").read_text())  # kept, to see why nothing passed
    assert stats["kept"] == 0 and stats["mean_reward"]["format"] == pytest.approx(2 / 3) and stats["dataset"] is None


def test_synth_config_errors() -> None:
    with pytest.raises(EmoreasonError, match="one --reward_thresholds value"):
        SynthConfig(reward_funcs=["format"], reward_thresholds=[1.0, 0.5])
    with pytest.raises(EmoreasonError, match="choose from"):
        SynthConfig(reward_funcs=["vibes"], reward_thresholds=[1.0])


def test_synth_retrains_between_rounds(toy_data: Path, tiny_vlm: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "sft.yaml"
    recipe.write_text(
        "max_steps: 2\nper_device_train_batch_size: 4\nreport_to: none\nsave_strategy: 'no'\n"
        "dtype: float32\nlora_r: 4\n"
    )
    adapters: list[str | None] = []

    class Recording(ScriptedModel):
        def __call__(self, config: SynthConfig, adapter: str | None):
            adapters.append(adapter)
            return super().__call__(config, adapter)

    config = SynthConfig(
        model_name_or_path=str(tiny_vlm),
        dataset_path=str(toy_data),
        output_dir=str(tmp_path / "s"),
        num_candidates=2,
        num_rounds=2,
        retrain_config=str(recipe),
        max_samples=4,
    )
    stats = run_synth(config, generator=Recording())
    retrained = tmp_path / "s" / "round_0" / "adapter"
    assert (retrained / "adapter_config.json").is_file()
    assert adapters == [None, str(retrained)] and stats[0]["retrained_adapter"] == str(retrained)


def test_synth_prompts_are_the_training_prompts(toy_data: Path, tmp_path: Path) -> None:
    """Candidates are sampled from the exact prompt the SFT/GRPO views train on (one Evidence, one prompt source)."""
    from emoreason.train.data import grpo_view, load_rows

    seen: list[list[dict]] = []

    class Recording(ScriptedModel):
        def __call__(self, config: SynthConfig, adapter: str | None):
            inner = super().__call__(config, adapter)

            def sample(messages: list, images: list) -> list[str]:
                seen.extend(messages)
                assert all(len(imgs) == 2 for imgs in images)  # every image of the row, opened
                return inner(messages, images)

            return sample

    run_synth(_config(toy_data, tmp_path, max_samples=4), generator=Recording())

    def texts(messages: list[dict]) -> list[tuple[str, str]]:
        return [(m["role"], p["text"]) for m in messages for p in m["content"] if p.get("type") == "text"]

    view = grpo_view(load_rows(str(toy_data), "train"))
    for i in range(4):
        assert texts(seen[i * 3]) == texts(view[i]["prompt"])
