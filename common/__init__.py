"""Shared building blocks of the MNIST course.

Every phase script tells its story by calling these modules, so each idea is written once:
``paths`` (where files go), ``cli`` (flags from ``main()``), ``device`` (CPU/GPU, seeds),
``data`` (verified MNIST, in-memory batches, augmentation), ``models``, ``training``,
``checkpoints``, ``evaluation``, ``plots``, ``ledger`` and ``progress``.
"""
