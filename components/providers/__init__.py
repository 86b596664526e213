"""Pulumi dynamic providers over our secret stores and deployment targets."""
