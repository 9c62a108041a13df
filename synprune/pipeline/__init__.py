"""Trial pipeline: spec -> training loop -> evaluation -> result; Ray/MLflow at thin edges."""
