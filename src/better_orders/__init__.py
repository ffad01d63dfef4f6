"""Better Orders."""
