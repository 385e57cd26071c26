"""CrowdSAL and NTIRE 2026 end to end, on folders in their published layouts made by synthetic.write_benchmark_set:
train two epochs, predict the test split as saliency videos, score them as the benchmarks do."""
import json
import shutil

import pytest
from conftest import ON_CPU

import evaluate
import generate_result_audio_visual
import train
from layouts import CROWDSAL, NTIRE2026, TEST, list_benchmark_videos


@pytest.mark.slow
@pytest.mark.parametrize("dataset, nested", [(CROWDSAL, False), (NTIRE2026, True)])
def test_train_predict_and_score_a_benchmark_folder(tmp_path, dataset, nested):
    from synthetic import write_benchmark_set

    root = write_benchmark_set(tmp_path / "set", dataset, ("0001", "0002"), ("3001", "3002"), num_frames=20,
                               size=(48, 64), nested=nested)
    model = ["--clip_size", "8", "--frame_size", "32", "64", *ON_CPU]
    assert train.main(["--dataset", dataset, "--train_path_data", str(root), "--no_epochs", "2", "--batch_size", "2",
                       "--no_workers", "0", "--model_val_path", str(tmp_path / "vinet.pt"), *model]) == 0
    assert generate_result_audio_visual.main(["--path_indata", str(root), "--dataset", dataset, "--file_weight",
                                              str(tmp_path / "vinet.pt"), "--save_path", str(tmp_path / "pred"),
                                              "--output_format", "mp4", "--use_sound", "False", *model]) == 0
    assert sorted(p.name for p in (tmp_path / "pred").glob("*.mp4")) == ["3001.mp4", "3002.mp4"]
    assert evaluate.main(["--protocol", "crowdsal", "--pred_path", str(tmp_path / "pred"), "--gt_path", str(root),
                          "--output", str(tmp_path / "scores.json")]) == 0
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert (scores["num_videos"], scores["num_frames"], sorted(scores["videos"])) == (2, 40, ["3001", "3002"])

    # the ground truth as a prediction: the ceiling the model's scores stay under
    (tmp_path / "truth").mkdir()
    for video in list_benchmark_videos(root, TEST, need_videos=False):
        shutil.copy(video.saliency, tmp_path / "truth" / f"{video.name}.mp4")
    assert evaluate.main(["--protocol", "crowdsal", "--pred_path", str(tmp_path / "truth"), "--gt_path", str(root),
                          "--output", str(tmp_path / "ceiling.json")]) == 0
    ceiling = json.loads((tmp_path / "ceiling.json").read_text())["frame_weighted"]
    assert ceiling["cc"] > 0.9999 and ceiling["sim"] > 0.999
    for metric in ("cc", "sim", "nss", "auc_judd"):
        assert -1 < scores["frame_weighted"][metric] < ceiling[metric]
