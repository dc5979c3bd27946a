"""The simulator: the NVML fake, machine descriptions, the built-in machines and their import from captures.

Nothing here reads a real host; `--simulate` and `--machine` use it, never a probe on its own.
"""
