"""@@Service@@: stock levels, reservations and inbound shipments for our warehouses."""

__version__ = "1.8.0"
