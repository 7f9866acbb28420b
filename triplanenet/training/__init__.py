"""Training: TriPlaneNet's encoders (two stages) and the small generator of the bundled model.

Modules: :mod:`.losses` (L2, smooth L1, LPIPS, ArcFace identity), :mod:`.data`
(EG3D-style folders, synthetic heads, augmentations), :mod:`.loop` (optimiser,
checkpoints and resume, progress, data parallelism), :mod:`.encoder_trainer` and
:mod:`.encoder_cli` (``triplanenet train-encoder``).
"""
