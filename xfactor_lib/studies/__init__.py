"""One pipeline module per study: what its template notebooks call, readable top to bottom."""
