"""`python -m synprune` is the same as the `synprune` console script."""

from synprune.pipeline.cli import main

raise SystemExit(main())
