"""Training loops (Lightning): self-supervised pretraining and the supervised baseline; run folders."""
