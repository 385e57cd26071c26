"""A scene's camera, as AutoFlip's SceneCameraMotionAnalyzer decides it, from how far the targets move:
- still, when the targets' range (between their STILL_QUANTILE and 1 - STILL_QUANTILE quantiles) is at most
  STILL_MOTION of the window: the window at the middle of that range, snapped to the picture's centre when it is
  within SNAP_DISTANCE of the picture's extent of it (AutoFlip's snap_center_max_distance_percent);
- moving, otherwise: targets interpolated linearly between analysed frames (never across a cut), then the path x

    min_x  sum_t (x_t - c_t)^2 + l1 sum_t (x_{t+1} - x_t)^2 + l2 sum_t (x_{t+1} - 2 x_t + x_{t-1})^2
      <=>  (I + l1 D1^T D1 + l2 D2^T D2) x = c

  (D1, D2 the first and second difference matrices: a sparse pentadiagonal system) with l2 = (tau f)^4 and
  l1 = VELOCITY_SHARE (tau f)^2 for tau = the smoothing in seconds and f the frame rate; clamped to the picture,
  its speed bounded by max_speed (the mean of a forward and a backward rate limiter: no lag, never outside).
Positions are rounded to even pixels (4:2:0 chroma then crops exactly).
"""
import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from vinet.reframing.geometry import Crop
from vinet.reframing.options import SNAP_DISTANCE, STILL_MOTION, STILL_QUANTILE, VELOCITY_SHARE, ReframeOptions


def difference_matrix(n: int, order: int) -> scipy.sparse.csr_matrix:
    """The (n - order, n) matrix of `order`-th differences (empty when n <= order)."""
    matrix = scipy.sparse.identity(n, format="csr")
    for _ in range(order):
        matrix = matrix[1:] - matrix[:-1]
    return matrix


def smooth_path(targets: np.ndarray, frames_of_smoothing: float) -> np.ndarray:
    """The regularised least-squares path through `targets` (module docstring), smoothing over about
    `frames_of_smoothing` frames."""
    n = len(targets)
    d1, d2 = difference_matrix(n, 1), difference_matrix(n, 2)
    system = (scipy.sparse.identity(n) + VELOCITY_SHARE * frames_of_smoothing ** 2 * (d1.T @ d1)
              + frames_of_smoothing ** 4 * (d2.T @ d2))
    return np.atleast_1d(scipy.sparse.linalg.spsolve(system.tocsc(), targets))


def limit_speed(path: np.ndarray, max_step: float) -> np.ndarray:
    """Steps of at most max_step: the mean of a forward and a backward rate limiter (zero lag; both stay
    between values of the path, so the mean does too)."""
    def forward(values: np.ndarray) -> np.ndarray:
        limited = values.copy()
        for t in range(1, len(limited)):
            limited[t] = np.clip(limited[t], limited[t - 1] - max_step, limited[t - 1] + max_step)
        return limited

    return (forward(path) + forward(path[::-1])[::-1]) / 2


def even_positions(positions: np.ndarray, crop: Crop) -> np.ndarray:
    """Positions rounded to even pixels inside the picture."""
    return np.clip(2 * np.round(positions / 2), 0, crop.last_position).astype(np.int64)


def still_position(targets: np.ndarray, crop: Crop) -> float | None:
    """The still camera's position when the targets move over at most STILL_MOTION of the window (the middle of
    their range, snapped to the centre within SNAP_DISTANCE of the picture), else None."""
    low, high = np.quantile(targets, [STILL_QUANTILE, 1 - STILL_QUANTILE])
    if high - low > STILL_MOTION * crop.window:
        return None
    centre = (crop.extent - crop.window) / 2
    middle = (low + high) / 2
    return centre if abs(middle - centre) <= SNAP_DISTANCE * crop.extent else middle


def camera_path(offsets: np.ndarray, targets: np.ndarray, length: int, crop: Crop, options: ReframeOptions,
                fps: float) -> tuple[np.ndarray, str]:
    """A scene's positions from the targets of its analysed frames (at `offsets` from its first frame): still,
    or moving along the smoothed, speed-limited path through the targets interpolated between them."""
    still = still_position(targets, crop)
    if still is not None:
        return even_positions(np.full(length, still), crop), "still"
    interpolated = np.interp(np.arange(length), offsets, targets)
    smooth = np.clip(smooth_path(interpolated, options.smoothing * fps), 0, crop.last_position)
    return even_positions(limit_speed(smooth, options.max_speed * crop.extent / fps), crop), "moving"
