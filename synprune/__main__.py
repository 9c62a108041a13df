"""`python -m synprune` is the same as the `synprune` console script."""

from synprune.cli.main import main

raise SystemExit(main())
