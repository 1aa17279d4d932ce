"""Demo legacy system."""
