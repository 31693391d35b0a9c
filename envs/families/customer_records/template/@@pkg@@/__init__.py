"""@@Service@@: @@record_word@@ records, their pipeline, exports and analytics."""

__version__ = "2.3.1"
