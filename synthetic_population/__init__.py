"""Municipality profiles, the synthetic population generator and real-extract readers."""
