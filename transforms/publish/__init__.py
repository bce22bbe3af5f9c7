"""Publish: the output tables' schemas, the Parquet writer and the swap, DuckDB views, the HTML report."""
