"""toh-cds: screens obstetric patients with hip pain for transient osteoporosis of the hip (TOH)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
