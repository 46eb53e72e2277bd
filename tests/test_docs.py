"""The documentation stays true: every setting is in .env.example and it parses."""

from __future__ import annotations

from pathlib import Path

from search.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_documented_in_env_example() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"T2I_{name.upper()}=" not in text]
    assert missing == []


def test_env_example_parses_as_settings(tmp_path: Path) -> None:
    lines = []
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.startswith("T2I_"):
            lines.append(line.split("#", 1)[0].rstrip())
    env_file = tmp_path / "example.env"
    env_file.write_text("\n".join(lines), encoding="utf-8")
    settings = Settings(_env_file=env_file)
    assert settings.results_per_album == 6
    assert settings.image_model == "sentence-transformers/clip-ViT-B-32"
