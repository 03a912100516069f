"""`emoreason chat` driven through stdin: /image, two questions, /save, /reset, with the rules and the hf backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emoreason.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from emoreason.testing.vlm import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("chat_vlm") / "qwen2_5_vl")


def _script(photo: Path, saved: Path, after_reset: Path) -> str:
    return "\n".join([
        f"/image {photo}", "What emotion is this?", "Is the smile genuine?", f"/save {saved}",
        "/reset", "And now?", f"/save {after_reset}", "/nonsense", "/image /no/such/photo.jpg", "/quit",
        "never read",
    ]) + "\n"  # fmt: skip


def _check_saved(saved: Path, after_reset: Path, photo: Path, backend: str) -> list[dict[str, Any]]:
    record = json.loads(saved.read_text())
    assert record["backend"] == backend
    turns = record["turns"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant"]
    assert [t["text"] for t in turns[::2]] == ["What emotion is this?", "Is the smile genuine?"]
    assert turns[0]["attachments"] == [str(photo)] and turns[2]["attachments"] == []
    assert all(isinstance(t["text"], str) and t["text"] for t in turns[1::2])
    reset = json.loads(after_reset.read_text())["turns"]
    assert [t["text"] for t in reset[::2]] == ["And now?"] and reset[0]["attachments"] == []
    return turns


def test_chat_with_the_rules_backend(face_photo: Path, tmp_path: Path) -> None:
    saved, after_reset = tmp_path / "chat.json", tmp_path / "after_reset.json"
    result = runner.invoke(app, ["chat"], input=_script(face_photo, saved, after_reset))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"Attached {face_photo}: " in out and "AU12 lip corner puller" in out
    assert out.count("Key observations:") == 2 and out.count("Conclusion:") == 2  # one FACS analysis per question
    assert f"Saved {saved}" in out and "Conversation and attachments cleared." in out
    assert "Attach a face first with /image PATH" in out  # after /reset the face is gone
    assert "Unknown command /nonsense" in out and "error: /no/such/photo.jpg: no such file" in out
    assert "never read" not in out and "Traceback" not in result.output
    turns = _check_saved(saved, after_reset, face_photo, "rules")
    assert "Key observations:" in turns[1]["text"]


def test_chat_with_the_hf_backend(face_photo: Path, tiny_vlm: Path, tmp_path: Path) -> None:
    saved, after_reset = tmp_path / "chat.json", tmp_path / "after_reset.json"
    args = ["chat", "--backend", "hf", "--model", str(tiny_vlm), "--max-new-tokens", "6"]
    result = runner.invoke(app, args, input=_script(face_photo, saved, after_reset))
    assert result.exit_code == 0, result.output
    assert f"Attached {face_photo}: " in result.stdout and f"Saved {saved}" in result.stdout
    turns = _check_saved(saved, after_reset, face_photo, "hf")
    assert json.loads(saved.read_text())["model"] == str(tiny_vlm)
    for turn in turns[1::2]:
        assert turn["text"] in result.stdout  # the streamed reply is what was saved


def test_second_turn_sends_the_history_and_the_first_turns_image(face_photo: Path, tiny_vlm: Path) -> None:
    from emoreason.chat.session import ChatSession
    from emoreason.reasoning.hf import HFReasoner

    class Recording(HFReasoner):
        def stream_chat(self, messages: list[dict[str, Any]], images: list[Any], **kw: Any) -> Any:
            self.calls.append((messages, list(images)))
            return super().stream_chat(messages, images, **kw)

    reasoner = Recording(str(tiny_vlm), max_new_tokens=4)
    reasoner.calls = []
    lines: list[str] = []
    session = ChatSession(reasoner, write=lines.append, write_piece=lambda piece: None)
    for line in (f"/image {face_photo}", "What emotion?", "Why?"):
        session.handle(line)
    (first, first_images), (second, second_images) = reasoner.calls
    assert [m["role"] for m in first] == ["system", "user"] and len(first_images) == 1
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[1] == first[1] and second_images == first_images  # the face crop stays in the conversation
    assert [part["type"] for part in second[1]["content"]][:2] == ["image", "text"]
    assert "AU12" in second[1]["content"][1]["text"] and second[3]["content"] == [{"type": "text", "text": "Why?"}]
    session.handle("/reset")
    assert session.history == [] and session.images == [] and session.evidence == []
