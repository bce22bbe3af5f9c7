"""Clean: normalise names, types and codes; validate rows with Great Expectations; build item ids."""
