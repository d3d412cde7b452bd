"""Caption set and captioner recipe files (config/captions.yaml, config/captioner.yaml)."""

from __future__ import annotations

import pytest

from grounded_core.tabletop import caption_list, load_world_config
from grounded_core.vision.config import (
    CaptionerConfig,
    CaptionerConfigError,
    load_caption_set,
    load_captioner_config,
)
from tests.conftest import REPO_ROOT
from tests.core.test_vision_support import one_torch_thread  # noqa: F401  (fixture)


def test_shipped_caption_file_is_the_b2_caption_set():
    shipped = load_caption_set(REPO_ROOT / "config" / "captions.yaml")
    expected = caption_list(load_world_config().object_names)
    assert list(shipped.captions) == expected and len(expected) == 9
    assert shipped.threshold == 0.8
    assert load_caption_set(None).captions == shipped.captions


def test_caption_file_extensions_and_errors(tmp_path):
    path = tmp_path / "captions.yaml"
    path.write_text("threshold: 0.9\nextra_captions: [The robot is grasping the yellow object]\n")
    caption_set = load_caption_set(path)
    assert len(caption_set.captions) == 10 and caption_set.threshold == 0.9
    for text, message in (
        ("captions: [a, a]\n", "duplicate"),
        ("threshold: 1.5\n", "threshold"),
        ("colour: red\n", "unknown key"),
        ("captions: a\n", "list"),
        ("- a\n", "mapping"),
    ):
        path.write_text(text)
        with pytest.raises(CaptionerConfigError, match=message):
            load_caption_set(path)


def test_shipped_recipe_file_matches_the_built_in_defaults():
    # default_captioner() uses the built-in defaults (the package does not ship config/);
    # the file documents them and must not drift.
    shipped = load_captioner_config(REPO_ROOT / "config" / "captioner.yaml")
    assert shipped == CaptionerConfig()
    assert shipped.fingerprint() == CaptionerConfig().fingerprint()


def test_recipe_validation_and_overrides(tmp_path):
    config = load_captioner_config(
        None, ["epochs=3", "lr=1e-4", "lock_text=yes", "cameras=front_left", "pretrained=none"]
    )
    assert (config.epochs, config.lr, config.lock_text) == (3, 1e-4, True)
    assert config.cameras == ("front_left",) and config.pretrained is None
    assert config.fingerprint() != CaptionerConfig().fingerprint()
    # Run-time knobs do not change the cache key.
    assert CaptionerConfig(num_threads=2).fingerprint() == CaptionerConfig().fingerprint()
    # ... nor do threshold/fusion settings (a cached model is recalibrated instead).
    assert (
        CaptionerConfig(fusion="max", min_threshold=0.6, min_detections=5).fingerprint()
        == CaptionerConfig().fingerprint()
    )
    # The validation split sizes are part of the recipe: the previous default (300 + 300
    # validation states) is another cache entry, so users get the recalibrated model.
    assert (
        CaptionerConfig(n_val=300, n_val_relations=300).fingerprint()
        != CaptionerConfig().fingerprint()
    )
    for override, message in (
        (["epochs=0"], "epochs"),
        (["epochs=2.5"], "integer"),
        (["fusion=median"], "fusion"),
        (["val_seed=0"], "differ"),
        (["colour=red"], "unknown key"),
        (["epochs"], "key=value"),
        (["lock_text=maybe"], "boolean"),
        (["min_detections=-1"], "min_detections"),
    ):
        with pytest.raises(CaptionerConfigError, match=message):
            load_captioner_config(None, override)
