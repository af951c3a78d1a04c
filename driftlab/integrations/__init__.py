"""Supervising training loops driftlab did not write: `driftlab watch` follows a trainer's
checkpoint folder, and `trl.DriftlabCallback` measures the policy inside a transformers or
TRL Trainer. Both judge rounds with the run engine's monitors and guard (driftlab.measure).
"""
