r"""Pretrained weights: the shipped generators, and the weight files that are fetched,
verified and cached (read and converted with no torch or TensorFlow).

    python -m jfsr.pretrained list                 # shipped models; weight files, cached or not
    python -m jfsr.pretrained fetch NAME... [--force]   # download, verify and cache weights
    python -m jfsr.pretrained pack --checkpoint RUN --name NAME   # a run's generator, shipped

``fetch`` takes the names ``list`` shows under the weight files; ``pack`` writes the
moving average where the run keeps one (``--trained``: the generator itself) to the
package's ``models/NAME.npz`` unless ``--output`` says where (:mod:`jfsr.packing`).
"""
