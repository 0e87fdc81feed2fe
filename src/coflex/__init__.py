"""coflex: run household flexibility under the DOE DER Aggregator Code of Conduct."""

__version__ = "0.1.0"
