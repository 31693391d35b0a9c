"""@@Service@@: the payments service in front of @@Provider@@ (charges, refunds, payouts)."""

__version__ = "1.4.0"
