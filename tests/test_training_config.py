"""vinet.training.config: the model's recipe and what the settings add to or drop from it, and the sizes a model
trains at."""
import pytest

from utils import InputError
from vinet.training.config import TrainSettings, configure


def settings(**given) -> TrainSettings:
    return TrainSettings(train_path_data="x", val_path_data="y", **given)


@pytest.mark.parametrize("given,terms,batch_size", [
    ({}, {"kldiv"}, 8),                                           # the original's recipe
    ({"cc": True}, {"kldiv", "cc"}, 8),                           # a setting adds to the recipe (the seed's --cc)
    ({"model": "vinet-s"}, {"kldiv", "cc"}, 8),                   # ViNet++'s recipe
    ({"model": "vinet-s", "cc": False}, {"kldiv"}, 8),            # a setting drops from it
    ({"model": "vinet-s", "dataset": "SoundDataset"}, {"kldiv", "cc"}, 2),
    ({"nss": True, "batch_size": 3}, {"kldiv", "nss"}, 3),
])
def test_loss_settings_add_to_or_drop_from_the_models_recipe(given, terms, batch_size):
    config = configure(settings(**given))
    assert set(config.optim.loss_weights) == terms and config.data.batch_size == batch_size


def test_each_model_trains_at_the_sizes_its_entry_accepts():
    assert configure(settings(frame_size=(256, 456), model="vinet-a")).model.frame_size \
        == (256, 456)   # ViNet-A's own size, not a multiple of 32
    assert configure(settings(frame_size=(64, 96))).model.frame_size == (64, 96)
    with pytest.raises(InputError, match=r"^--frame_size 30 64: vinet-a takes heights and widths that are multiples "
                                         r"of 4 \(vinet-a's own size: 256 456\)$"):
        configure(settings(frame_size=(30, 64), model="vinet-a"))
