"""The execution ladder for one parent order, as a pure state machine (``machine``)."""
