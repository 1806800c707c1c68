"""The bridge's pure rules: what the proxy rings next (calls.py) and where (directory.py)."""
