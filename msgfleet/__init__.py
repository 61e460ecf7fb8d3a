"""msgfleet: plan, provision and size a national messenger across many states."""

__version__ = "0.1.0"
