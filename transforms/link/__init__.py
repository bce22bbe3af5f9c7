"""Link: match every item to its counterpart in each ancestor jurisdiction, consolidate powers, order ids."""
