"""The steps of ``curate.TrainingSetBuilder`` as plain functions (the builder is a facade over them)."""
