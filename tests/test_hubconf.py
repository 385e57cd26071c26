"""hubconf.py: torch.hub's entry points build the registry's models, load checkpoints strictly, and say where the
released weights are."""
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, deterministic_weights

import hubconf
from registry import MODELS
from utils import InputError


@pytest.mark.slow
def test_torch_hub_loads_an_entry_point_from_another_folder(tmp_path):
    code = ("import torch; m = torch.hub.load(sys.argv[1], 'vinet_s', source='local', frame_size=(64, 96)); "
            "print(type(m).__name__, m.training, sum(p.numel() for p in m.parameters()))")
    done = subprocess.run([sys.executable, "-c", "import sys; " + code, str(ROOT)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["VideoSaliencyModel", "False", "9500737"]


@pytest.mark.parametrize("entry_point, model", [("vinet", "vinet"), ("avinet", "avinet"), ("vinet_s", "vinet-s"),
                                                ("vinet_a", "vinet-a"), ("vinet_e", "vinet-e")])
def test_each_family_builds_its_registry_model_in_eval_mode(entry_point, model):
    built = getattr(hubconf, entry_point)()
    assert type(built) is MODELS[model].builder and not built.training


def test_weights_load_strictly_and_other_registry_names_are_keywords(tmp_path):
    path = tmp_path / "clip16.pt"
    saved = deterministic_weights(MODELS["vinet-clip16"].build()).state_dict()
    torch.save(saved, path)
    loaded = hubconf.vinet(weights=path, model="vinet-clip16").state_dict()
    assert loaded.keys() == saved.keys() and all(torch.equal(loaded[k], saved[k]) for k in saved)
    with pytest.raises(InputError, match="clip16.pt"):
        hubconf.vinet_s(weights=path)   # another model's layout: refused, not loaded loosely


def test_untrained_models_are_seeded_and_pretrained_says_where_to_get_the_weights():
    first, second = hubconf.vinet_s().state_dict(), hubconf.vinet_s().state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    with pytest.raises(ValueError, match="no stable URL; get them from the ViNet\\+\\+ release"):
        hubconf.vinet_s(pretrained=True)
