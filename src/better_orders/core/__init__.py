"""The pure decision core: no network, no files, no clock reads.

Time and quotes arrive as arguments, so the same code runs live, in the
simulator and in a replay of many thousands of decisions.
"""
