"""Shared building blocks of the MNIST course.

Every phase script tells its story by calling these modules, so each idea is written once:
``paths`` (where files go), ``cli`` (flags from ``main()``), ``device`` (CPU/GPU, seeds),
``data`` (verified MNIST, in-memory batches, augmentation), ``models``, ``training``,
``checkpoints``, ``evaluation``, ``runs`` (test once, save, log), ``plots``, ``ledger``
and ``progress``; the bonus lessons add ``scratch`` (a NumPy network), ``interpret``,
``adversarial`` and ``interpret_plots`` (Phase 6), ``activations`` and ``dashboard`` (the live
view), ``digit_preprocess`` and ``drawing_pad`` (your own digit).
"""
