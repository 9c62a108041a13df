"""One module per CLI verb; each exposes ``add_arguments(parser)`` and ``run(args) -> int``.

Modules are imported only when their verb runs, so ``synprune train`` never imports Ray.
"""
