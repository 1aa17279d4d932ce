"""Tests of the demo legacy system."""
