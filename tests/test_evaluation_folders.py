"""vinet.evaluation.folders: fixation files as .mat, and the repository's fold lists when the dataset root has none."""
import cv2
import numpy as np
import pytest
import scipy.io
from evaluation_cases import REPO, make_av, make_dhf1k, score


def test_mat_fixations_give_the_same_numbers_as_png(tmp_path):
    gt, pred = make_dhf1k(tmp_path, {"video_a": 1, "video_b": 3})
    png_summary, png_rows = score(tmp_path, gt, pred)
    for path in sorted((gt / "video_b" / "fixation").glob("*.png")):
        fixations = (cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) > 0).astype(np.uint8)
        (path.parent / "maps").mkdir(exist_ok=True)
        scipy.io.savemat(path.parent / "maps" / f"{path.stem}.mat", {"I": fixations})
        path.unlink()
    mat_summary, mat_rows = score(tmp_path, gt, pred)
    assert mat_rows == png_rows and mat_summary["mean"] == png_summary["mean"]


@pytest.mark.parametrize(("dataset", "split", "list_name"), [
    ("AVAD", 1, "AVAD_list_test_1_fps.txt"),
    ("DIEM", None, "DIEM_list_test_fps.txt"),  # DIEM has one split
])
def test_repository_fold_list_is_used_when_the_dataset_root_has_none(tmp_path, dataset, split, list_name):
    names = [line.split()[0] for line in (REPO / "fold_lists" / list_name).read_text().splitlines() if line.strip()]
    gt, pred = make_av(tmp_path, dataset, {names[0]: 2})
    for path in (gt / "fold_lists").iterdir():
        path.unlink()
    summary, _ = score(tmp_path, gt, pred, dataset=dataset, split=split)
    assert summary["frames_per_video"] == {names[0]: 2}
    assert summary["problems"] == {"missing_gt_video": len(names) - 1}
