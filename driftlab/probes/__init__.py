"""Probe sets: fixed prompts whose answers are compared round by round.

Three kinds (see `sets.KINDS`): paired prompts that differ only in a group attribute
(bias amplification), concept prompts (semantic drift), and the five stable-reflectivity
subtasks of the "Supervising AIs improving AIs" agenda. Starter sets ship in
`driftlab/data/probes/`; `driftlab probes build` writes or extends a set with a model.
"""
