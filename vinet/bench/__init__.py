"""The benchmark's stages and reports (benchmark.py's library), against the original's loop (vinet.reference).

machine (description, matmul rate, FLOPs, peak memory) and workload (synthetic videos, their windows, untrained
models with a trained model's contrast) feed the stages: engine (generate in this process, the models alone,
training steps; steps: the speed-ups one at a time), processes (whole commands as a user runs them; runtimes: the
backends and precisions, each model alone), reframing (against the clock, the sampled analysis's agreement),
memory (long videos), loader (training's loader on FullHD videos against training steps). commands times a
command; maps compares two runs' maps; report prints and writes.
"""
