"""Policy: the product catalogue and baseline policy (rules as data), and measures."""
