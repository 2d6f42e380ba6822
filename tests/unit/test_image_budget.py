"""The image budget's arithmetic (services/images/budget.py) and its config keys."""

from __future__ import annotations

import pytest

from client.config import ImageLimitsConfig, load_config
from client.errors import InvalidArgument
from services.common.safetar.apply import ApplyStats, LayerLimits
from services.common.safetar.errors import LayerTooLarge
from services.images.budget import ImageBudget, ImageTooLarge, apply_metered, metered

BUDGET = ImageBudget(layer_bytes=100, layer_entries=10, image_bytes=250, image_entries=25)
BASE = LayerLimits(max_bytes=1000, max_entries=1000)


def _stats(nbytes: int, files: int) -> ApplyStats:
    return ApplyStats(files=files, bytes=0, stream_bytes=nbytes)


def _recording(seen: list[LayerLimits], used: int, files: int):
    def apply(limits: LayerLimits) -> ApplyStats:
        seen.append(limits)
        return _stats(used, files)
    return apply


def test_without_a_meter_the_base_limits_apply() -> None:
    seen: list[LayerLimits] = []
    apply_metered(_recording(seen, 1, 1), BASE)
    assert seen == [BASE]


def test_each_layer_gets_the_smaller_of_its_cap_and_what_is_left() -> None:
    seen: list[LayerLimits] = []
    with metered(BUDGET, "image x") as meter:
        for used in (100, 100, 40):
            apply_metered(_recording(seen, used, 8), BASE)
        assert (meter.bytes, meter.entries) == (240, 24)
    assert seen == [LayerLimits(100, 10), LayerLimits(100, 10), LayerLimits(50, 9)]


def test_a_layer_over_the_image_budget_is_refused_naming_it() -> None:
    def apply(limits: LayerLimits) -> ApplyStats:
        if limits.max_bytes < 100:
            raise LayerTooLarge(f"layer exceeds the uncompressed size cap of {limits.max_bytes} bytes")
        return _stats(100, 1)

    with metered(BUDGET, "image x"):
        apply_metered(apply, BASE)
        apply_metered(apply, BASE)
        with pytest.raises(ImageTooLarge, match=r"image x: its layers exceed the 250-byte image budget \(200 bytes"):
            apply_metered(apply, BASE)


def test_entries_over_the_image_budget_are_refused_naming_it() -> None:
    def apply(limits: LayerLimits) -> ApplyStats:
        if limits.max_entries < 10:
            raise LayerTooLarge(f"layer exceeds the cap of {limits.max_entries} entries")
        return _stats(1, 10)

    with metered(BUDGET, "image y"):
        apply_metered(apply, BASE)
        apply_metered(apply, BASE)
        with pytest.raises(ImageTooLarge, match="image y: its layers exceed the image budget of 25 entries"):
            apply_metered(apply, BASE)


def test_a_layer_over_its_own_cap_keeps_the_layer_message() -> None:
    def apply(limits: LayerLimits) -> ApplyStats:
        raise LayerTooLarge(f"layer exceeds the uncompressed size cap of {limits.max_bytes} bytes")

    with metered(BUDGET, "image z"):
        with pytest.raises(LayerTooLarge, match="cap of 100 bytes") as err:
            apply_metered(apply, BASE)
    assert not isinstance(err.value, ImageTooLarge)


def _config(tmp_path, text: str, env: dict[str, str] | None = None) -> ImageLimitsConfig:
    path = tmp_path / "barque.toml"
    path.write_text(text)
    return load_config(str(path), env or {}).image_limits


def test_config_keys_sizes_and_env(tmp_path) -> None:
    assert _config(tmp_path, "") == ImageLimitsConfig()
    caps = _config(tmp_path, '[images]\nmax_layer_bytes = "1m"\nmax_image_bytes = 3145728\nmax_layer_entries = 100\n')
    assert (caps.max_layer_bytes, caps.max_image_bytes, caps.max_layer_entries) == (1 << 20, 3 << 20, 100)
    env = {"BARQUE_MAX_IMAGE_ENTRIES": "150", "BARQUE_MAX_LAYER_BYTES": "2g"}
    caps = _config(tmp_path, '[images]\nmax_layer_bytes = "1m"\n', env)
    assert (caps.max_layer_bytes, caps.max_image_entries) == (2 << 30, 150)


@pytest.mark.parametrize("line", ['max_layer_bytes = "lots"', "max_layer_bytes = 0", "max_image_entries = -1",
                                  'max_layer_entries = "1k"', "max_image_bytes = true"])
def test_config_refusals(tmp_path, line: str) -> None:
    with pytest.raises(InvalidArgument, match="expected a positive"):
        _config(tmp_path, f"[images]\n{line}\n")
