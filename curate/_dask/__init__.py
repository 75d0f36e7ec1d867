"""The Dask engine of curate: TrainingSetBuilder on Dask DataFrames / partitioned Parquet.

Nothing here imports Dask at module level; every Dask import goes through
:func:`curakit.optional.import_optional` inside the functions that need it.
"""
