"""Training ViNet and AViNet: settings and configuration, processes, data, checkpoints, logs and the loop."""
