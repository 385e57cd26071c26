"""Saliency-driven reframing: a video cut to another aspect ratio where people look, with its sound.

The trip of a video and its maps (pipeline.reframe_video, as options.ReframeOptions say): scenes (cuts, and each
scene's picture inside its bars) -> profiles (each analysed frame's saliency along the free axis) -> plan (per
scene a camera, camera.py, and a fit: crop or pad) -> render (the output and debug videos) and report (the path
JSON, the summary line). geometry holds the crop window's shape.
"""
