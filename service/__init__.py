"""toh-cds: screens obstetric patients with hip pain for transient osteoporosis of the hip (TOH)."""

__version__ = "0.1.0"
