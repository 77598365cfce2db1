"""The executor's decisions: what may run, in which order, and what counts as success.

Pure: no broker, HTTP or database library; adapters implement the ports declared next to the
code that uses them.
"""
