"""The inference engine: a saliency map for every frame of videos, for any model of the registry.

    video sources (sources.py: frame folders, the datasets' layouts, video files)
      -> frames decoded ahead and the sound of each window (stream.py)
      -> windows batched and run by a backend (predictor.py; vinet/backends)
      -> maps post-processed and written behind (run.py), each folder's manifest (manifest.py), overlays
"""
