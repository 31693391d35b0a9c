"""@@Product@@ Python SDK: clients for the @@Product@@ cloud API and the on-prem @@legacy_word@@."""

__version__ = "3.4.2"
USER_AGENT = f"@@pkg@@-python/{__version__}"
